"""Designation strips (SPEC D6): `GET /bays/{id}/labels.svg`, an SVG to print at 1:1.

The document is read as XML (sizes, strips, cells, names, escaping, fitting), then rendered by
a headless Chromium from a live server, driven over its DevTools pipe: the size it takes in CSS
pixels, the text it shows, and where each name really lands with the fonts the machine has.
"""

import json
import os
import select
import signal
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy import text as sql

from app.services.labels import NAME_SIZE, PADDING
from app.services.text_width import text_ems
from tests.helpers import Db, make_bay

NS = "{http://www.w3.org/2000/svg}"
SVG_TYPE = "image/svg+xml"
# Names a studio types into pgAdmin: markup, quotes, emoji, right-to-left text.
TRICKY = [
    "Juno-106 <MIDI> & \"OUT\" 'L'",
    "</text><script>alert(1)</script>",
    "\U0001f3b9 Keys \U0001f39b\ufe0f",
    "\u05de\u05d9\u05e7\u05e1\u05e8 1",
    "&amp; &lt;",
]
LONG = "W" * 120


def labels(client: TestClient, bay_id: int, **params: Any) -> ET.Element:
    response = client.get(f"/bays/{bay_id}/labels.svg", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == SVG_TYPE
    return ET.fromstring(response.content)


def strips(root: ET.Element) -> list[ET.Element]:
    return root.findall(f"{NS}g[@class='strip']")


def cells(strip: ET.Element) -> list[ET.Element]:
    return strip.findall(f"{NS}g[@class='cell']")


def name_in(cell: ET.Element) -> str | None:
    found = cell.find(f"{NS}text[@class='name']")
    return None if found is None else found.text


def strip_box(strip: ET.Element) -> tuple[float, float, float]:
    """Left, top and width of a strip, from its cut line (drawn inside the strip's edges)."""
    cut = strip.find(f"{NS}rect[@class='cut']")
    assert cut is not None
    inset = float(cut.get("stroke-width", "0")) / 2
    left, top = float(cut.get("x", "")) - inset, float(cut.get("y", "")) - inset
    return left, top, float(cut.get("width", "")) + 2 * inset


def rename(db: Db, names: dict[str, str]) -> None:
    for old, new in names.items():
        db.execute(
            "UPDATE patchbay_points SET name = %(new)s WHERE name = %(old)s",
            {"old": old, "new": new},
        )


# --- The document ----------------------------------------------------------------------------------


def test_a_19_inch_panel_by_default(client: TestClient) -> None:
    bay = make_bay(client)
    response = client.get(f"/bays/{bay['id']}/labels.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == SVG_TYPE
    assert response.headers["content-disposition"] == 'inline; filename="Bay-A-labels.svg"'
    assert response.headers["content-security-policy"] == "default-src 'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")

    root = ET.fromstring(response.content)
    assert root.tag == f"{NS}svg"
    assert root.get("width") == "482.6mm"
    height = root.get("height", "")
    assert height.endswith("mm")
    # One user unit is one millimetre.
    assert root.get("viewBox") == f"0 0 482.6 {height.removesuffix('mm')}"
    for strip in strips(root):
        left, top, width = strip_box(strip)
        assert (left, width) == pytest.approx((0, 482.6))
        assert 0 < top < float(height.removesuffix("mm"))
    # Self-contained: nothing in it names another resource.
    assert b"href" not in response.content and b"url(" not in response.content
    assert b"<style" not in response.content and b"<script" not in response.content


@pytest.mark.parametrize("width", [100, 300, 422, 1000])
def test_width_mm_sets_the_strips_width(client: TestClient, width: float) -> None:
    bay = make_bay(client, channels=4)
    root = labels(client, bay["id"], width_mm=width)
    assert root.get("width") == f"{width}mm"
    assert root.get("viewBox", "").startswith(f"0 0 {width} ")
    for strip in strips(root):
        assert strip_box(strip)[2] == pytest.approx(width)
        dividers = [float(line.get("x1", "")) for line in strip.findall(f"{NS}line")]
        # Equal cells: the dividers at every quarter.
        assert dividers == pytest.approx([width / 4 * n for n in (1, 2, 3)], abs=1e-3)


def test_two_strips_top_row_above_with_a_cell_per_channel(client: TestClient) -> None:
    bay = make_bay(client, channels=5)
    root = labels(client, bay["id"])
    top, bottom = strips(root)
    assert (top.get("data-row"), bottom.get("data-row")) == ("top", "bottom")
    assert strip_box(top)[1] < strip_box(bottom)[1]
    for strip in (top, bottom):
        assert [cell.get("data-channel") for cell in cells(strip)] == ["1", "2", "3", "4", "5"]
        numbers = [cell.find(f"{NS}text[@class='channel']") for cell in cells(strip)]
        assert [number.text for number in numbers if number is not None] == list("12345")
    assert [name_in(cell) for cell in cells(top)] == [f"Bay A {n}T" for n in range(1, 6)]
    assert [name_in(cell) for cell in cells(bottom)] == [f"Bay A {n}B" for n in range(1, 6)]


def test_every_channel_of_a_96_channel_bay(client: TestClient) -> None:
    bay = make_bay(client, channels=96)
    for strip in strips(labels(client, bay["id"])):
        assert len(cells(strip)) == 96


def test_names_are_escaped(client: TestClient, db: Db) -> None:
    bay = make_bay(client, name='Bay <&> "A"', channels=len(TRICKY))
    rename(db, {f'Bay <&> "A" {n}T': name for n, name in enumerate(TRICKY, start=1)})
    response = client.get(f"/bays/{bay['id']}/labels.svg")
    assert b"<script" not in response.content and b"<MIDI>" not in response.content
    assert b"&lt;MIDI&gt; &amp;" in response.content
    assert b"&amp;amp; &amp;lt;" in response.content
    root = ET.fromstring(response.content)
    assert [name_in(cell) for cell in cells(strips(root)[0])] == TRICKY
    assert root.findtext(f"{NS}title") == 'Bay <&> "A": designation strips'
    # Right-to-left names end (and would be cut) on the left.
    hebrew = cells(strips(root)[0])[3].find(f"{NS}text[@class='name']")
    assert hebrew is not None and hebrew.get("direction") == "rtl"
    assert response.headers["content-disposition"] == 'inline; filename="Bay-A-labels.svg"'


def test_characters_xml_cannot_carry_are_replaced(client: TestClient, db: Db) -> None:
    """A name typed into pgAdmin may hold control characters; the document still parses."""
    bay = make_bay(client, channels=1)
    rename(db, {"Bay A 1T": "Tape\x07 in\nL", "Bay A 1B": "Out\x1b\ufffeR"})
    top, bottom = strips(labels(client, bay["id"]))
    assert name_in(cells(top)[0]) == "Tape\ufffd in L"
    assert name_in(cells(bottom)[0]) == "Out\ufffd\ufffdR"


def test_an_empty_slot_gives_an_empty_cell(client: TestClient) -> None:
    bay = make_bay(client, channels=3)
    bottom_2 = bay["channels"][1]["bottom_point_id"]
    response = client.put(f"/bays/{bay['id']}/channels/2", json={"bottom_point_id": bottom_2})
    assert response.status_code == 200, response.text
    top, bottom = strips(labels(client, bay["id"]))
    assert [name_in(cell) for cell in cells(top)] == ["Bay A 1T", None, "Bay A 3T"]
    assert [name_in(cell) for cell in cells(bottom)] == ["Bay A 1B", "Bay A 2B", "Bay A 3B"]
    empty = cells(top)[1]
    assert [element.get("class") for element in empty] == ["channel"]


def test_the_filename_is_ascii(client: TestClient) -> None:
    for name, filename in [
        ("Bühne / Rack 2 «Main»", "Buhne-Rack-2-Main-labels.svg"),
        ('x"; filename=evil.exe', "x-filename-evil.exe-labels.svg"),
    ]:
        bay = make_bay(client, name=name, channels=1)
        response = client.get(f"/bays/{bay['id']}/labels.svg")
        assert response.headers["content-disposition"] == f'inline; filename="{filename}"'
    bay = make_bay(client, name="\U0001f39b\ufe0f", channels=1)
    response = client.get(f"/bays/{bay['id']}/labels.svg")
    expected = f'inline; filename="bay-{bay["id"]}-labels.svg"'
    assert response.headers["content-disposition"] == expected


def fitted(root: ET.Element) -> list[tuple[str, float, float]]:
    """(text, font size, the cell's width) of every name in the document."""
    found = []
    for strip in strips(root):
        width = strip_box(strip)[2] / len(cells(strip))
        for cell in cells(strip):
            name = cell.find(f"{NS}text[@class='name']")
            if name is not None:
                found.append((name.text or "", float(name.get("font-size", "")), width))
    return found


def test_long_names_are_shrunk_then_cut_to_fit_their_cell(client: TestClient, db: Db) -> None:
    bay = make_bay(client, channels=24)
    medium = "Juno-106 OUT L"
    rename(db, {"Bay A 1T": LONG, "Bay A 2T": medium, "Bay A 3T": "\U0001f3b9" * 40})
    root = labels(client, bay["id"])
    shown = {text: size for text, size, _ in fitted(root)}
    assert medium in shown and NAME_SIZE[0] < shown[medium] < NAME_SIZE[1]
    cut = name_in(cells(strips(root)[0])[0]) or ""
    assert cut.endswith("\u2026") and LONG.startswith(cut[:-1]) and len(cut) > 3
    assert shown[cut] == NAME_SIZE[0]
    for text, size, cell_width in fitted(root):
        assert size * text_ems(text) <= cell_width - 2 * PADDING + 1e-9, text


def test_narrow_cells_never_overflow(client: TestClient, db: Db) -> None:
    bay = make_bay(client, channels=96)
    rename(db, {f"Bay A {n}T": LONG for n in range(1, 97)})
    root = labels(client, bay["id"], width_mm=100)
    for text, size, cell_width in fitted(root):
        assert size * text_ems(text) <= cell_width, text


def test_parts_cut_each_strip_for_narrower_paper(client: TestClient) -> None:
    bay = make_bay(client, channels=5)
    root = labels(client, bay["id"], parts=2)
    cell_width = 482.6 / 5
    assert root.get("width") == f"{round(3 * cell_width, 3)}mm"
    pieces = strips(root)
    assert [(piece.get("data-row"), piece.get("data-part")) for piece in pieces] == [
        ("top", "1"),
        ("top", "2"),
        ("bottom", "1"),
        ("bottom", "2"),
    ]
    channels = [[cell.get("data-channel") for cell in cells(piece)] for piece in pieces]
    assert channels == [["1", "2", "3"], ["4", "5"]] * 2
    for piece in pieces:
        assert strip_box(piece)[2] == pytest.approx(cell_width * len(cells(piece)), abs=1e-3)


def test_reads_what_the_database_holds_now(client: TestClient, db: Db) -> None:
    bay = make_bay(client, channels=1)
    assert name_in(cells(strips(labels(client, bay["id"]))[0])[0]) == "Bay A 1T"
    rename(db, {"Bay A 1T": "Tape 1"})
    assert name_in(cells(strips(labels(client, bay["id"]))[0])[0]) == "Tape 1"


def test_unknown_bay(client: TestClient) -> None:
    response = client.get("/bays/4242/labels.svg")
    assert (response.status_code, response.json()) == (404, {"detail": "Bay not found"})
    assert client.get(f"/bays/{2**31}/labels.svg").status_code == 422


@pytest.mark.parametrize(
    "params",
    [
        {"width_mm": "99.9"},
        {"width_mm": "1000.5"},
        {"width_mm": "0"},
        {"width_mm": "-482.6"},
        {"width_mm": "nan"},
        {"width_mm": "inf"},
        {"width_mm": "wide"},
        {"width_mm": ""},
        {"parts": "0"},
        {"parts": "5"},
        {"parts": "1.5"},
    ],
)
def test_bad_parameters(client: TestClient, params: dict[str, str]) -> None:
    bay = make_bay(client, channels=1)
    response = client.get(f"/bays/{bay['id']}/labels.svg", params=params)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", next(iter(params))]


def test_documented_in_openapi(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/bays/{bay_id}/labels.svg"]["get"]
    assert operation["tags"] == ["Export"]
    assert operation["summary"]
    assert "100 %" in operation["description"] and "Fit to page" in operation["description"]
    assert set(operation["responses"]["200"]["content"]) == {SVG_TYPE}
    assert {"200", "404", "422", "503"} <= set(operation["responses"])
    for status in ("404", "422", "503"):
        assert set(operation["responses"][status]["content"]) == {"application/json"}
    width = next(p for p in operation["parameters"] if p["name"] == "width_mm")
    assert (width["schema"]["minimum"], width["schema"]["maximum"]) == (100, 1000)
    assert width["schema"]["default"] == 482.6


# --- In a browser ----------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
MM = 96 / 25.4  # CSS pixels in a millimetre


class DevTools:
    """Headless Chromium driven over its DevTools pipe: JSON messages ended by a NUL byte,
    read from its fd 3 and written to its fd 4. Every host but 127.0.0.1 is unreachable (as in
    test_docs.py): names do not resolve, and the rest goes to a proxy that refuses."""

    def __init__(self, home: Path) -> None:
        self.closed = socket.socket()  # bound, not listening: connections to it are refused
        self.closed.bind(("127.0.0.1", 0))
        commands, self.commands = os.pipe()
        self.replies, replies = os.pipe()
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            f"--user-data-dir={home / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--proxy-server=http://127.0.0.1:{self.closed.getsockname()[1]}",
            "--proxy-bypass-list=127.0.0.1",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config")}
        self.log = home / "chromium.log"
        with self.log.open("wb") as log:
            self.pid = os.posix_spawn(
                str(CHROMIUM),
                [str(CHROMIUM), *flags],
                env,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, commands, 3),
                    (os.POSIX_SPAWN_DUP2, replies, 4),
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, log.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
                ],
            )
        os.close(commands)
        os.close(replies)
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive()
            if reply.get("id") == self.next_id:
                assert "error" not in reply, (method, reply)
                result: dict[str, Any] = reply["result"]
                return result
            self.events.append(reply)

    def receive(self, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            wait = deadline - time.monotonic()
            assert wait > 0 and select.select([self.replies], [], [], wait)[0], self.log_tail()
            chunk = os.read(self.replies, 1 << 16)
            assert chunk, f"Chromium closed the pipe\n{self.log_tail()}"
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def wait_for(self, method: str, session: str) -> None:
        while not any(e["method"] == method and e.get("sessionId") == session for e in self.events):
            self.events.append(self.receive())

    def open(self, url: str) -> str:
        """A new page at `url`, loaded; its session id."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = str(
            self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        )
        self.send("Page.enable", session)
        self.send("Network.enable", session)
        self.send("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", session)
        return session

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.send("Runtime.evaluate", session, expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"]["value"]

    def requested(self, session: str) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e["method"] == "Network.requestWillBeSent" and e.get("sessionId") == session
        ]

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (AssertionError, OSError):
            os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
            time.sleep(0.05)
        os.close(self.commands)
        os.close(self.replies)
        self.closed.close()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[DevTools]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
    browser = DevTools(tmp_path)
    yield browser
    browser.close()


# What the browser made of the document: its size in CSS pixels, its text, and the box of each
# name in user units (millimetres), as laid out with the fonts this machine has.
RENDERED = """(() => {
  const root = document.documentElement;
  const box = root.getBoundingClientRect();
  const strips = [...root.querySelectorAll("g.strip")].map((strip) => {
    const cut = strip.querySelector("rect.cut");
    return {
      left: cut.x.baseVal.value - cut.getAttribute("stroke-width") / 2,
      width: cut.width.baseVal.value + Number(cut.getAttribute("stroke-width")),
      cells: [...strip.querySelectorAll("g.cell")].map((cell) => {
        const name = cell.querySelector("text.name");
        if (!name) return null;
        const bbox = name.getBBox();
        return {text: name.textContent, left: bbox.x, right: bbox.x + bbox.width};
      }),
    };
  });
  return {
    type: document.contentType,
    width: box.width,
    height: box.height,
    text: root.textContent,
    strips,
  };
})()"""


def test_the_browser_renders_it_at_its_real_size(
    chromium: DevTools, live: list[str], engine: Engine
) -> None:
    base_url = live[0]
    response = httpx.post(f"{base_url}/bays", json={"name": "Bay <&>", "channels": 8}, timeout=10)
    assert response.status_code == 201, response.text
    bay = response.json()
    names = {f"Bay <&> {n}T": name for n, name in enumerate([*TRICKY, LONG], start=1)}
    with engine.begin() as conn:  # as typed into pgAdmin
        for old, new in names.items():
            renamed = sql("UPDATE patchbay_points SET name = :new WHERE name = :old")
            conn.execute(renamed, {"old": old, "new": new})
        empty = "UPDATE patchbay_points SET bay_id = NULL, bay_channel = NULL, bay_row = NULL"
        conn.execute(sql(f"{empty} WHERE name = 'Bay <&> 8B'"))
    url = f"{base_url}/bays/{bay['id']}/labels.svg"
    served = ET.fromstring(httpx.get(url, timeout=10).content)

    session = chromium.open(url)
    page = chromium.evaluate(session, RENDERED)

    assert page["type"] == SVG_TYPE
    # 482.6 mm at 96 CSS pixels to the inch.
    assert page["width"] == pytest.approx(482.6 * MM, abs=1)
    assert page["width"] == pytest.approx(1824, abs=1)
    assert page["height"] == pytest.approx(float(served.get("height", "")[:-2]) * MM, abs=1)
    expected = [[name_in(cell) for cell in cells(strip)] for strip in strips(served)]
    assert [[c and c["text"] for c in strip["cells"]] for strip in page["strips"]] == expected
    assert expected[1][7] is None
    for name in [*TRICKY, *(f"Bay <&> {n}B" for n in range(1, 8)), "Bay <&> 7T", "Bay <&> 8T"]:
        assert name in page["text"], name
    # Every name inside its own cell, in the fonts the browser really used.
    for strip in page["strips"]:
        cell_width = strip["width"] / len(strip["cells"])
        for index, cell in enumerate(strip["cells"]):
            if cell is not None:
                left = strip["left"] + index * cell_width
                assert left <= cell["left"] and cell["right"] <= left + cell_width, cell
    # It loads nothing but itself.
    assert chromium.requested(session) == [url]
