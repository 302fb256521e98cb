"""The README runs as written: every curl example of "Using the API", in order, against a live
server on a new, empty studio, answering the status it shows (and the body, where it shows one
in full)."""

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from tests.conftest import ROOT, LiveServers, alembic_config

README = ROOT / "README.md"
# `curl` as the examples call it, but printing the status after the body.
WRAPPER = "curl() { command curl -sS -w '\\n%{http_code}' \"$@\"; }\n"


@dataclass
class Example:
    line: int  # in README.md
    command: str
    status: int
    shown: Any  # the body shown in full (parsed), or None


def _blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """The ```sh blocks of "Using the API", with the README line each starts on."""
    section = text.split("\n## Using the API\n", 1)[1].split("\n## ", 1)[0]
    offset = text[: text.index(section)].count("\n")
    lines = section.split("\n")
    start = None
    for n, line in enumerate(lines):
        if line.strip() == "```sh":
            start = n + 1
        elif line.strip() == "```" and start is not None:
            yield offset + start + 1, lines[start:n]
            start = None


def _expectation(line: int, comment: str) -> tuple[int, Any]:
    """The status (and the body, when shown in full) of the comment under an example."""
    match = re.match(r"#\s*(\d{3})\b\s*(.*)$", comment)
    assert match, f"README.md line {line}: an example is followed by `# <status> [body]`"
    status, rest = int(match.group(1)), match.group(2).strip()
    try:
        shown = json.loads(rest) if rest else None
    except json.JSONDecodeError:
        # Only a body shown abbreviated may be left unchecked.
        assert "..." in rest or "…" in rest, f"README.md line {line}: not JSON: {rest}"
        shown = None
    return status, shown


def examples() -> tuple[list[str], list[Example]]:
    """The variables the examples set, and the examples in order."""
    variables: list[str] = []
    found: list[Example] = []
    for first_line, lines in _blocks(README.read_text()):
        n = 0
        while n < len(lines):
            line = lines[n]
            if re.match(r"[A-Z_]+=", line):
                variables.append(line)
            elif line.startswith("curl "):
                command, start = line, n
                while command.count("'") % 2 or command.endswith("\\"):
                    n += 1
                    command += "\n" + lines[n]
                following = lines[n + 1] if n + 1 < len(lines) else ""
                status, shown = _expectation(first_line + start, following)
                found.append(Example(first_line + start, command, status, shown))
                n += 1  # its comment
            else:
                assert not line.strip() or line.startswith("#"), (
                    f"README.md line {first_line + n}: neither an example, a variable nor a "
                    f"comment: {line}"
                )
            n += 1
    return variables, found


@pytest.fixture(scope="module")
def fresh_server(scratch_database: Callable[[str], str]) -> Iterator[str]:
    """A server on a new database: the story's ids and revisions start where a new studio's do."""
    url = scratch_database("readme")
    command.upgrade(alembic_config(url), "head")
    servers = LiveServers(url, 1)
    try:
        # The examples call it `localhost`, as `make run` is reached.
        yield servers.urls[0].replace("127.0.0.1", "localhost")
    finally:
        servers.stop()


def test_the_readme_has_examples_for_every_area() -> None:
    _, found = examples()
    paths = " ".join(example.command for example in found)
    for path in (
        "/bays",
        "/cables",
        "/signal-flow",
        "/scenes",
        "/history",
        "/export",
        "/import",
        "/state",
    ):
        assert path in paths, path
    assert len(found) > 40


def test_every_example_answers_as_shown(fresh_server: str, tmp_path: Path) -> None:
    variables, found = examples()
    prelude = WRAPPER + "\n".join(variables) + f"\nAPI={fresh_server}\n"
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    for example in found:
        done = subprocess.run(
            ["bash", "-c", prelude + example.command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        where = f"README.md line {example.line}: {example.command}"
        assert done.returncode == 0, (where, done.stderr)
        body, _, status = done.stdout.rpartition("\n")
        assert int(status) == example.status, (where, status, body)
        if example.shown is not None:
            assert json.loads(body) == example.shown, (where, body)


# The curl lines of the README that this test does not run, and why.
NOT_RUN = {
    "Upgrading from the earlier service": "a compose deployment, on port 8088",
}
STREAM = "$ curl -N $API/events"  # a stream that never ends; tests/test_events.py covers it


def test_every_curl_of_the_readme_is_run_or_listed() -> None:
    _, found = examples()
    run = {example.line for example in found}
    section = ""
    for number, line in enumerate(README.read_text().split("\n"), start=1):
        if line.startswith("## "):
            section = line.removeprefix("## ")
        if not line.startswith(("curl ", "$ curl ")) or number in run:
            continue
        assert section in NOT_RUN or line == STREAM, f"README.md line {number} is not run: {line}"
