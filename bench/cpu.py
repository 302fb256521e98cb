"""How much CPU other work took while a scenario was measured.

The machine has two cores, so a test suite or another load running meanwhile moves every figure.
Around each measured wrk run the benchmark reads the machine's busy time (/proc/stat) and the CPU
time of what belongs to the measurement: the server, wrk (a child, counted once it has exited),
this process and PostgreSQL's processes (which serve the load). What is left was someone else's.
It is an estimate: PostgreSQL backends serving other clients count as ours. PostgreSQL's
processes are followed one by one, so a backend that exits meanwhile (another client's, as a
test suite disconnects) takes only its time since the first reading out of the figures, rather
than all its CPU time until then (which once showed other work at 188% of the CPUs).
"""

import os
import resource
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSnapshot:
    busy_s: float  # the whole machine's busy time since boot
    ours_s: float  # CPU time of the measurement's own processes, PostgreSQL's aside
    postgres_s: dict[int, float]  # CPU time of each PostgreSQL process, by pid


def _machine_busy_s() -> float:
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal; guest time is already counted in user.
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS


def _process_s(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0  # gone meanwhile
    # The command name may hold spaces; utime and stime are fields 14 and 15.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _postgres_s() -> dict[int, float]:
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        times[int(entry.name)] = _process_s(int(entry.name))
    return times


def snapshot(server_pid: int | None) -> CpuSnapshot:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    if server_pid is not None:
        ours += _process_s(server_pid)
    return CpuSnapshot(busy_s=_machine_busy_s(), ours_s=ours, postgres_s=_postgres_s())


def other_share(before: CpuSnapshot, after: CpuSnapshot, seconds: float) -> float:
    """Share of all CPUs (0-1) that other work used between the two snapshots."""
    # Processes started meanwhile count from zero; those that exited meanwhile are left out
    # (their last reading is gone), so their time since `before` counts as other work.
    postgres = sum(used - before.postgres_s.get(pid, 0.0) for pid, used in after.postgres_s.items())
    other = (after.busy_s - before.busy_s) - (after.ours_s - before.ours_s) - postgres
    capacity = len(os.sched_getaffinity(0)) * seconds
    return max(other, 0.0) / capacity if capacity else 0.0
