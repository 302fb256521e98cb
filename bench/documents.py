"""The heaviest imports the bounds allow (SPEC G: app/schemas/studio.py, app/services/
patch_list.py), as the bytes POSTed, each filled to its size by the points' descriptions.

Both hold 20,000 points, two in each of 10,000 channels ("Bay 7 12T", "Bay 7 12B"), point g
(1..20,000, top then bottom, channel by channel) holding port g: port (g - 1) mod 16 + 1 of
device (g - 1) div 16 + 1, an output on a top, an input on a bottom; and 10,000 cables, every
jack plugged, the top of the i-th channel to the bottom of the (7(i - 1) + 5 mod 10,000 + 1)-th.

  studio_document  125 bays of 80 channels, each holding points, and `scenes` scenes of 40,000
                   items (links, cables, modes): five reach the bound of 200,000, a sixth passes
                   it at its first link, near the end of the document
  patch_list       250 bays of 80 channels (the 20,000 channels of the bound): channels 1-40
                   hold the points, 41-80 are two empty slots each, 40,000 rows in all; `extra`
                   loose points after them pass the bounds of rows and of rows with a point
"""

import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

MIB = 1024 * 1024
SIZE = 16 * MIB - 1024  # within the bound of the bytes: the items' bounds decide
POINTS, CHANNELS = 20_000, 80  # a bay's channels
MODES = ("half-normal", "normal", "parallel", "thru")
FILLER = "Filled up to the bound by the benchmark. "
HEADER = "bay,channel,row,mode,point,description,device,device type,port,port type,cable to,"
HEADER += "cable label\r\n"


def bottoms(shift: int = 5, step: int = 7) -> list[int]:
    """The channel whose bottom each channel's top is cabled to (`step` prime to 10,000)."""
    return [(step * i + shift) % (POINTS // 2) + 1 for i in range(POINTS // 2)]


def device(g: int) -> int:
    """The device of point g's port."""
    return (g - 1) // 16 + 1


def port(g: int) -> dict[str, Any]:
    number, output = (g - 1) % 16 + 1, g % 2 == 1
    label = f"{'OUT' if output else 'IN'} {(number + 1) // 2}"
    kind = "Output" if output else "Input"
    return {"id": f"dev-{device(g)}-port-{number}", "label": label, "type": kind}


def point_name(c: int, top: bool, per_bay: int) -> str:
    """The name of a jack of the c-th channel holding points, `per_bay` such channels a bay."""
    bay, n = divmod(c - 1, per_bay)
    return f"Bay {bay + 1} {n + 1}{'T' if top else 'B'}"


def sized(build: Callable[[Iterator[str]], str], size: int, count: int) -> bytes:
    """What `build` makes of `count` descriptions that make it `size` bytes."""
    room = size - len(build(iter([""] * count)))
    text = FILLER * (room // count // len(FILLER) + 1)
    body = build(text[: room // count + (n < room % count)] for n in range(count)).encode()
    assert len(body) == size, f"{len(body):,} bytes, not {size:,}: fill it otherwise"
    return body


@cache
def studio_document(scenes: int, size: int = SIZE) -> bytes:
    bays = POINTS // 2 // CHANNELS

    def cables(to: list[int]) -> list[dict[str, Any]]:
        return [
            {"points": [2 * i - 1, 2 * j], "label": "", "color": None} for i, j in enumerate(to, 1)
        ]

    def scene(s: int) -> dict[str, Any]:
        # Each its own patch: every port moved 2s points along, cables and modes permuted.
        return {
            "id": s,
            "name": f"Scene {s}",
            "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": "2026-01-01T00:00:00+00:00",
            "links": [
                {"port_id": port(g)["id"], "patchbay_id": (g - 1 + 2 * s) % POINTS + 1}
                for g in range(1, POINTS + 1)
            ],
            "cables": cables(bottoms(s, (3, 9, 11, 13, 17, 19)[s % 6])),
            "modes": [
                {"bay_id": b, "channel": n, "mode": MODES[(b + n + s) % 4]}
                for b in range(1, bays + 1)
                for n in range(1, CHANNELS + 1)
            ],
        }

    def bay(b: int) -> dict[str, Any]:
        tops = [2 * ((b - 1) * CHANNELS + n) - 1 for n in range(1, CHANNELS + 1)]
        return {
            "id": b,
            "name": f"Bay {b}",
            "channels": [
                {
                    "number": n,
                    "mode": MODES[(b + n) % 4],
                    "top_point_id": t,
                    "bottom_point_id": t + 1,
                }
                for n, t in enumerate(tops, 1)
            ],
        }

    def build(descriptions: Iterator[str]) -> str:
        document = {
            "format": "pepper-studio",
            "version": 1,
            "bays": [bay(b) for b in range(1, bays + 1)],
            "patchbay_points": [
                {
                    "id": g,
                    "name": point_name((g + 1) // 2, g % 2 == 1, CHANNELS),
                    "description": text,
                }
                for g, text in zip(range(1, POINTS + 1), descriptions, strict=True)
            ],
            "devices": [
                {
                    "id": d,
                    "name": f"Synth {d}",
                    "type": "Synth",
                    "last_port_number": 16,
                    "ports": [port(g) | {"patchbay_id": g} for g in range(16 * d - 15, 16 * d + 1)],
                }
                for d in range(1, device(POINTS) + 1)
            ],
            "cables": [{"id": i} | cable for i, cable in enumerate(cables(bottoms()), 1)],
            "scenes": [scene(s) for s in range(1, scenes + 1)],
        }
        return json.dumps(document, separators=(",", ":"))

    return sized(build, size, POINTS)


@cache
def patch_list(extra: int = 0, size: int = SIZE) -> bytes:
    """The i-th channel holding points is channel (i - 1) mod 40 + 1 of bay (i - 1) div 40 + 1."""
    half = CHANNELS // 2
    to = bottoms()
    top_of = {j: i for i, j in enumerate(to, 1)}

    def rows(descriptions: Iterator[str]) -> Iterator[str]:
        for b in range(1, POINTS // 2 // half + 1):
            for n in range(1, CHANNELS + 1):
                i, mode = (b - 1) * half + n, MODES[(b + n) % 4]
                for top in (True, False):
                    slot = f"Bay {b},{n},{'top' if top else 'bottom'},{mode},"
                    if n > half:
                        yield slot + ",,,,,,,\r\n"
                        continue
                    g, cable = 2 * i - top, i if top else top_of[i]
                    ends = (
                        point_name(i, top, half),
                        point_name(to[i - 1] if top else cable, not top, half),
                    )
                    yield (
                        f"{slot}{ends[0]},{next(descriptions)},Synth {device(g)},Synth,"
                        f"{port(g)['label']},{port(g)['type']},{ends[1]},Patch {cable}\r\n"
                    )
        for k in range(extra):
            yield f",,,,Loose {k + 1},{next(descriptions)},,,,,,\r\n"

    return sized(lambda descriptions: HEADER + "".join(rows(descriptions)), size, POINTS + extra)
