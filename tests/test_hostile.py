"""Hostile clients against a live server: a table of requests written byte by byte to raw sockets.

HTTP client libraries refuse to send most of these (odd header case, lying lengths, chunked
bodies in any spelling, bad encodings, pipelining, bodies that stop half way), so each row of
`CASES` is the exact bytes to write, with pauses, half-closes and resets where the row needs
them. One uvicorn process serves the test database (`LiveServers`, access log on, its stderr in
a file); a second one, with SSE_MAX_CLIENTS=3 and SSE_KEEPALIVE_SECONDS=0.2, serves the rows
about `/events`.

For every row, after a small studio is seeded:
1. no reply is a 5xx and the server logs no error (a traceback behind a closed connection is a
   500 the client never saw); every 4xx the application writes is `{"detail": ...}` in strict
   JSON (valid UTF-8, no NaN, no lone surrogates), under 2 kB unless the row allows more; a
   close without a reply, or a refusal that is not JSON (the HTTP parser's plain 400), only on
   rows marked `wire` (malformed HTTP, or a client that hangs up);
2. `GET /health` on a fresh connection answers 200 within 1 s (the client's timeout);
3. when the server refused the request (4xx or closed), no table of the studio changed: every
   table of the public schema but alembic_version and state_revision, read row by row.
A row that finds a server bug stays in the table as a strict xfail naming it. The module ends
with a line of figures: cases, replies by status.
"""

import contextlib
import gzip
import json
import os
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx2 as httpx
import psycopg
import pytest
from psycopg import sql

from app.core.errors import BODY_TOO_LARGE, CROSS_SITE, HOST_NOT_ALLOWED, UNAUTHORIZED
from app.db.shapes import PATCH
from tests.conftest import LiveServers

CLOSED = 0  # a status for "the connection closed with no reply"
READ_TIMEOUT = 10  # longer than the server waits for a stalled body (BODY_IDLE_SECONDS)
HEALTH_TIMEOUT = 1.0
SMALL = 2048  # a refusal never echoes much of what was sent
MIB = 1024 * 1024
MAX_LINE = MIB
SSE_MAX_CLIENTS = 3


# --- The wire ----------------------------------------------------------------------------------
class Signal:
    """A part of a request that is not bytes: shut the write side (the server reads end of
    file), or reset the connection (close with SO_LINGER 0: the server gets an RST)."""

    def __init__(self, name: str) -> None:
        self.name = name


SHUT = Signal("shut")
RESET = Signal("reset")
Part = bytes | float | Signal  # bytes to send, seconds to pause, or a signal
Builder = Callable[[str], list[Part]]  # the parts, given the value of a good Host header


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names, the last value of each
    body: bytes

    def json(self) -> Any:
        return strict_json(self.body)


def strict_json(body: bytes) -> Any:
    """JSON as RFC 8259 has it: UTF-8, no NaN or Infinity, no lone surrogates in strings."""

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    value = json.loads(body.decode("utf-8"), parse_constant=no_constant)
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone surrogate fails here
    return value


def _send(sock: socket.socket, parts: Sequence[Part]) -> None:
    try:
        for part in parts:
            if part is SHUT:
                sock.shutdown(socket.SHUT_WR)
            elif part is RESET:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            elif isinstance(part, float):
                time.sleep(part)
            elif isinstance(part, bytes):
                sock.sendall(part)
    except OSError:  # the server answered early and closed, or the reader is done
        pass


def _read_head(stream: BinaryIO) -> tuple[int, dict[str, str]] | None:
    line = stream.readline(MAX_LINE)
    if not line:
        return None
    status = int(line.split()[1])
    headers: dict[str, str] = {}
    while (line := stream.readline(MAX_LINE)) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def _read_body(stream: BinaryIO, status: int, headers: dict[str, str], head: bool = False) -> bytes:
    if head or status < 200 or status in (204, 304):
        return b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while size := int(stream.readline(MAX_LINE).split(b";")[0], 16):
            body += stream.read(size)
            stream.readline(MAX_LINE)
        while stream.readline(MAX_LINE) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return body
    if "content-length" in headers:
        return stream.read(int(headers["content-length"]))
    return stream.read()


def read_reply(stream: BinaryIO, head: bool = False) -> Reply | None:
    """The next final reply (interim 1xx ones skipped), or None if the connection closed first.
    The reply to a HEAD (`head`) has no body, whatever its headers say."""
    try:
        while found := _read_head(stream):
            status, headers = found
            body = _read_body(stream, status, headers, head)
            if status >= 200:
                return Reply(status, headers, body)
    except ConnectionResetError:
        pass
    return None


def hang_up(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # also wakes a sender blocked in sendall
    sock.close()


def exchange(
    address: tuple[str, int], parts: Sequence[Part], replies: int, head: bool = False
) -> list[Reply | None]:
    """Send the parts (from a thread, so that an early reply is read while a body still goes
    out) and read up to `replies` pipelined replies; a None (closed) ends the list. A request
    that ends in a reset gets no reading at all."""
    sock = socket.create_connection(address, timeout=READ_TIMEOUT)
    if parts and parts[-1] is RESET:
        _send(sock, parts)
        return [None]
    sender = threading.Thread(target=_send, args=(sock, parts), daemon=True)
    sender.start()
    stream = sock.makefile("rb")
    got: list[Reply | None] = []
    try:
        while len(got) < replies and (not got or got[-1] is not None):
            got.append(read_reply(stream, head))
    finally:
        hang_up(sock)
        sender.join(READ_TIMEOUT)
        stream.close()
    return got


def open_stream(
    address: tuple[str, int], parts: Sequence[Part], until: bytes
) -> tuple[Reply | None, socket.socket]:
    """Start an event stream: the reply's head and, for a 200, the stream read up to `until`.
    The caller hangs up (the client going away)."""
    sock = socket.create_connection(address, timeout=READ_TIMEOUT)
    _send(sock, parts)
    if parts and parts[-1] is RESET:
        return None, sock
    stream = sock.makefile("rb")
    try:
        head = _read_head(stream)
    except ConnectionResetError:
        head = None
    if head is None:
        return None, sock
    status, headers = head
    if status != 200:
        return Reply(status, headers, _read_body(stream, status, headers)), sock
    seen = b""
    while until not in seen and (chunk := stream.read1(4096)):
        seen += chunk
    return Reply(status, headers, seen), sock


# --- Requests ----------------------------------------------------------------------------------
def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def request(
    method: str | bytes,
    target: str | bytes,
    *headers: str | bytes,
    body: bytes = b"",
    host: bool = True,
    close: bool = True,
    version: str = "HTTP/1.1",
) -> Callable[[str], bytes]:
    """One request's bytes: the request line, `Host` first (unless host=False), the headers as
    given, `Content-Length` (unless the headers frame the body themselves) and
    `Connection: close` (unless close=False or the headers name a Connection)."""

    def build(host_value: str) -> bytes:
        lines = [b"%s %s %s" % (_bytes(method), _bytes(target), version.encode())]
        if host:
            lines.append(b"Host: " + host_value.encode())
        lines += [_bytes(header) for header in headers]
        names = {line.split(b":")[0].strip().lower() for line in lines[1:]}
        if not names & {b"content-length", b"transfer-encoding"} and (
            body or _bytes(method) in (b"POST", b"PUT", b"PATCH")
        ):
            lines.append(b"Content-Length: %d" % len(body))
        if close and b"connection" not in names:
            lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    return build


def parts(*pieces: Callable[[str], bytes] | Part) -> Builder:
    """A request in pieces: requests, bytes, pauses and signals, in order."""
    return lambda host: [piece(host) if callable(piece) else piece for piece in pieces]


def at_once(*requests: Callable[[str], bytes]) -> Builder:
    """Requests written in one go, so the server reads them in one piece (pipelining)."""
    return lambda host: [b"".join(build(host) for build in requests)]


def http(
    method: str | bytes, target: str | bytes, *headers: str | bytes, **options: Any
) -> Builder:
    return parts(request(method, target, *headers, **options))


def get(target: str | bytes, *headers: str | bytes, **options: Any) -> Builder:
    return http("GET", target, *headers, **options)


def delete(target: str | bytes, *headers: str | bytes, **options: Any) -> Builder:
    return http("DELETE", target, *headers, **options)


def post(target: str | bytes, *headers: str | bytes, body: bytes = b"", **options: Any) -> Builder:
    """A POST; a body is JSON unless the headers name another Content-Type."""
    typed = any(_bytes(header).lower().startswith(b"content-type:") for header in headers)
    extra = [JSON] if body and not typed else []
    return http("POST", target, *extra, *headers, body=body, **options)


def chunked(body: bytes, size: int = 64 * 1024, extension: bytes = b"") -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in pieces) + b"0\r\n\r\n"


def js(value: Any) -> bytes:
    return json.dumps(value).encode()


def slow(build: Callable[[str], bytes], after: bytes, pause: float = 2.0) -> Builder:
    """The request up to `after` and 10 bytes more, a pause, then the rest."""

    def pieces(host: str) -> list[Part]:
        whole = build(host)
        cut = whole.index(after) + len(after) + 10
        return [whole[:cut], pause, whole[cut:]]

    return pieces


JSON = "Content-Type: application/json"
FORM = "Content-Type: application/x-www-form-urlencoded"
CHUNKED = "Transfer-Encoding: chunked"
EVIL = "Origin: http://evil.example"
LINKED = "dev-1-port-1"  # seeded on point 1
UNLINK = f"/ports/{LINKED}/unlink"
LINK = f"/ports/{LINKED}/link"
DEVICE = js({"name": "Minimoog", "type": "Synth", "ports": [{"label": "OUT", "type": "Output"}]})
POINT = js({"name": "C1"})
HUGE_DEVICE = js({"name": "x" * (2 * MIB), "type": "Synth", "ports": []})
HUGE_BULK = js({"points": [{"name": "P" * 190, "description": "d" * 1900}] * 600})
# An object of 90,000 unknown keys, in 978 kB.
MANY_KEYS = b"{" + b",".join(b'"k%d":0' % n for n in range(90_000)) + b"}"
CSV_HEADER = (
    b"bay,channel,row,mode,point,description,device,device type,port,port type,cable to,"
    b"cable label\r\n"
)
KEY = "hostile-key"
NAMED_KEY = "alice-key"
READ_KEY = "wall-key"  # role read
PATCH_KEY = "assistant-key"  # role patch
KEY_MAY_NOT = "This key may not make this change"
NOT_JSON = "Content-Type must be application/json"
GARBAGE = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32)  # a TLS hello, say


def surrogate(template: str) -> bytes:
    """A JSON text with `@` replaced by a string holding an escaped lone surrogate, which
    JSON allows and UTF-8 (and so PostgreSQL) cannot carry."""
    return template.encode().replace(b"@", b'"a\\ud800b"')


def padded(value: Any, size: int) -> bytes:
    """A JSON text of exactly `size` bytes: `value` followed by spaces."""
    text = js(value)
    return text + b" " * (size - len(text))


def studio_document(points: int = 0, ports: int = 0, scene_links: int = 0) -> bytes:
    """A studio document of so many points, ports (of two devices) and scene links."""
    document: dict[str, Any] = {
        "format": "pepper-studio",
        "version": 1,
        "patchbay_points": [{"id": n, "name": "p"} for n in range(1, points + 1)],
        "devices": [
            {
                "id": d,
                "name": "d",
                "type": "t",
                "last_port_number": 0,
                "ports": [
                    {"id": f"p{d}-{n}", "label": "l", "type": "Input", "patchbay_id": None}
                    for n in range(ports // 2 + d - 1)
                ],
            }
            for d in (1, 2)
        ],
        "scenes": [
            {
                "id": s,
                "name": f"s{s}",
                "created_at": "2026-01-01T00:00:00+00:00",
                "updated_at": "2026-01-01T00:00:00+00:00",
                "links": [
                    {"port_id": f"p{n}", "patchbay_id": None} for n in range(scene_links // 6 + 1)
                ],
                "cables": [],
                "modes": [],
            }
            for s in range(1, 7 if scene_links else 1)
        ],
    }
    return js(document)


def ports(count: int, label: str = "l") -> bytes:
    return js(
        {"name": "Big", "type": "Mixer", "ports": [{"label": label, "type": "Input"}] * count}
    )


# --- The studio --------------------------------------------------------------------------------
STUDIO = [
    "INSERT INTO patchbay_points (name, description, type) VALUES "
    "('A1', 'Top row, jack 1', 'standard'), ('A2', '', 'standard'), ('A3', '', 'normalled'), "
    "('B1', '', 'standard'), ('B2', '', 'half-normalled')",
    "INSERT INTO devices (name, type, last_port_number) VALUES "
    "('Juno-106', 'Synth', 3), ('TR-808', 'Drum machine', 2)",
    "INSERT INTO ports (id, device_id, label, type, patchbay_id) VALUES "
    "('dev-1-port-1', 1, 'MIDI IN', 'Input', 1), ('dev-1-port-2', 1, 'OUT L', 'Output', 2), "
    "('dev-1-port-3', 1, 'OUT R', 'Output', NULL), ('dev-2-port-1', 2, 'MIX OUT', 'Output', 3), "
    "('dev-2-port-2', 2, 'TRIG IN', 'Input', NULL)",
    "INSERT INTO bays (name) VALUES ('Bay A')",
    "INSERT INTO bay_channels (bay_id, number) VALUES (1, 1), (1, 2)",
    "UPDATE patchbay_points SET bay_id = 1, bay_channel = 1, "
    "bay_row = CASE id WHEN 1 THEN 'top' ELSE 'bottom' END WHERE id IN (1, 2)",
    "INSERT INTO cables (label) VALUES ('FX')",
    "INSERT INTO cable_ends (cable_id, end_number, point_id) VALUES (1, 1, 4), (1, 2, 5)",
    f"INSERT INTO scenes (name, content) SELECT 'Tracking', {PATCH}",
]
SEEDED_POINTS = 5


class Studio:
    """The test database through psycopg: seeding, and snapshots of every studio table."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True, options="-c lock_timeout=5000")

    def tables(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
            "AND table_name NOT IN ('alembic_version', 'state_revision') ORDER BY table_name"
        ).fetchall()
        return [str(name) for (name,) in rows]

    def empty(self) -> None:
        names = sql.SQL(", ").join(sql.Identifier(name) for name in self.tables())
        self.conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(names))

    def seed(self) -> None:
        with self.conn.transaction():
            self.empty()
            for statement in STUDIO:
                self.conn.execute(statement)

    def snapshot(self) -> dict[str, list[str]]:
        """Every row of every studio table, as JSON text, in order."""
        query = sql.SQL("SELECT row_to_json(t)::text FROM {} AS t ORDER BY 1")
        return {
            name: [
                str(line)
                for (line,) in self.conn.execute(query.format(sql.Identifier(name))).fetchall()
            ]
            for name in self.tables()
        }

    def scalar(self, query: str, *params: Any) -> Any:
        found = self.conn.execute(query, params).fetchone()
        return None if found is None else found[0]

    def revision(self) -> int:
        return int(self.scalar("SELECT revision FROM state_revision"))


Check = Callable[[Reply | None, Studio], None]


def still_linked(port: str, point: int | None) -> Check:
    def check(reply: Reply | None, studio: Studio) -> None:
        assert studio.scalar("SELECT patchbay_id FROM ports WHERE id = %s", port) == point

    return check


def device_kept(device: int) -> Check:
    def check(reply: Reply | None, studio: Studio) -> None:
        assert studio.scalar("SELECT count(*) FROM devices WHERE id = %s", device) == 1

    return check


def points_made(count: int) -> Check:
    def check(reply: Reply | None, studio: Studio) -> None:
        if reply is not None and reply.status == 201:
            made = studio.scalar("SELECT count(*) FROM patchbay_points") - SEEDED_POINTS
            assert made == count

    return check


def request_id_not_taken(reply: Reply | None, studio: Studio) -> None:
    assert reply is not None and "FORGED" not in reply.headers["x-request-id"]


def not_echoed(reply: Reply | None, studio: Studio) -> None:
    assert reply is not None and b"X-Secret" not in reply.body


# --- The table ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    build: Builder
    expect: frozenset[int]  # acceptable statuses of the (first) reply; CLOSED for none
    detail: str | None = None  # the exact `detail` of the refusal, where the contract names it
    then: tuple[frozenset[int], ...] = ()  # acceptable statuses of the pipelined replies after
    wire: bool = False  # malformed HTTP or a client hanging up: a close or a plain 400 is fine
    server: str = "main"  # "events": the server with 3 stream slots; "keyed": API keys set
    stream: bytes | None = None  # an event stream: read it up to this, then hang up
    max_body: int = SMALL  # the largest acceptable body of a 4xx
    unchanged: bool = False  # the studio must not change, whatever the reply
    logged: str | None = None  # text the server's log must show afterwards
    head: bool = False  # a HEAD: its replies have no body
    check: Check | None = None


def row(
    name: str,
    build: Builder,
    expect: int | Sequence[int],
    *,
    bug: str | None = None,
    then: Sequence[int | Sequence[int]] = (),
    **options: Any,
) -> Any:
    """One case; `bug` marks a case that finds a server bug (a strict xfail)."""

    def statuses(value: int | Sequence[int]) -> frozenset[int]:
        return frozenset([value] if isinstance(value, int) else value)

    case = Case(name, build, statuses(expect), then=tuple(map(statuses, then)), **options)
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(case, id=name, marks=marks)


CASES: list[Any] = [
    # --- Issue findings: the body limit, whatever the framing ----------------------------------
    *(
        row(
            f"te-{te}-{name}-over-1mib",
            post(path, f"Transfer-Encoding: {te}", body=chunked(body)),
            413,
            detail=BODY_TOO_LARGE,
        )
        for te in ("Chunked", "CHUNKED", "chunked")
        for name, path, body in (
            ("devices", "/devices", HUGE_DEVICE),
            ("bulk", "/patchbay-points/bulk", HUGE_BULK),
        )
    ),
    row(
        "te-chunked-over-1mib-one-chunk",
        post("/devices", CHUNKED, body=chunked(HUGE_DEVICE, size=2 * MIB)),
        413,
        detail=BODY_TOO_LARGE,
    ),
    row(
        "te-chunked-over-1mib-then-pipelined",
        at_once(
            request("POST", "/devices", JSON, CHUNKED, body=chunked(HUGE_DEVICE), close=False),
            request("GET", "/health"),
        ),
        413,
        # The rest of the body is read and dropped, so the connection goes on.
        then=[200],
        detail=BODY_TOO_LARGE,
    ),
    row(
        "te-chunked-over-1mib-on-unlink",
        post(UNLINK, JSON, CHUNKED, body=chunked(HUGE_DEVICE)),
        413,
        detail=BODY_TOO_LARGE,
    ),
    row(
        "te-chunked-exactly-1mib",
        post("/patchbay-points", CHUNKED, body=chunked(padded({"name": "C1"}, MIB))),
        201,
        check=points_made(1),
    ),
    row(
        "te-chunked-1mib-and-1-byte",
        post("/patchbay-points", CHUNKED, body=chunked(padded({"name": "C1"}, MIB + 1))),
        413,
        detail=BODY_TOO_LARGE,
    ),
    row(
        "content-length-exactly-1mib",
        post("/patchbay-points", body=padded({"name": "C1"}, MIB)),
        201,
        check=points_made(1),
    ),
    row(
        "content-length-1mib-and-1-byte",
        post("/patchbay-points", body=padded({"name": "C1"}, MIB + 1)),
        413,
        detail=BODY_TOO_LARGE,
    ),
    row(
        "content-length-over-1mib-declared",
        parts(request("POST", "/devices", JSON, f"Content-Length: {2 * MIB}"), b'{"name": "'),
        413,
        detail=BODY_TOO_LARGE,
    ),
    row(
        "content-length-over-1mib-sent",
        post("/patchbay-points/bulk", body=HUGE_BULK),
        413,
        detail=BODY_TOO_LARGE,
    ),
    row(
        "content-length-over-1mib-on-unlink",
        post(UNLINK, body=HUGE_DEVICE),
        413,
        detail=BODY_TOO_LARGE,
    ),
    row(
        "expect-100-continue-over-1mib",
        parts(
            request("POST", "/devices", JSON, "Expect: 100-continue", f"Content-Length: {2 * MIB}")
        ),
        413,
        detail=BODY_TOO_LARGE,
    ),
    # --- Issue findings: a Content-Length that lies --------------------------------------------
    row(
        "content-length-shorter",
        post("/devices", "Content-Length: 10", body=DEVICE),
        422,
        then=[CLOSED],
        wire=True,
    ),
    row(
        "content-length-shorter-keep-alive",
        post("/devices", "Content-Length: 10", body=DEVICE, close=False),
        (400, 422),
        then=[(400, CLOSED)],
        wire=True,
    ),
    row(
        "content-length-longer-then-shut",
        parts(request("POST", "/devices", JSON, "Content-Length: 400", body=DEVICE), SHUT),
        (400, CLOSED),
        wire=True,
    ),
    row(
        "content-length-longer-then-reset",
        parts(request("POST", "/devices", JSON, "Content-Length: 400", body=DEVICE), 0.1, RESET),
        CLOSED,
        wire=True,
    ),
    row(
        "content-length-zero-smuggles-a-write",
        at_once(
            request("POST", "/devices", JSON, "Content-Length: 0", close=False),
            request("POST", UNLINK, "Host: evil.example", host=False),
        ),
        422,
        then=[400],
    ),
    # --- Issue findings: body-less writes from other sites -------------------------------------
    row(
        "cross-site-form-unlink",
        post(UNLINK, FORM, EVIL),
        403,
        detail=CROSS_SITE,
        check=still_linked(LINKED, 1),
    ),
    row(
        "cross-site-fetch-metadata-unlink",
        post(UNLINK, FORM, "Sec-Fetch-Site: cross-site"),
        403,
        detail=CROSS_SITE,
        check=still_linked(LINKED, 1),
    ),
    row(
        "cross-site-delete-device",
        delete("/devices/1", EVIL),
        403,
        detail=CROSS_SITE,
        check=device_kept(1),
    ),
    row("cross-site-origin-null", post(UNLINK, "Origin: null"), 403, detail=CROSS_SITE),
    row(
        "cross-site-origin-odd-case",
        post(UNLINK, "oRiGiN: HTTP://EVIL.EXAMPLE"),
        403,
        detail=CROSS_SITE,
    ),
    row(
        "cross-site-origin-host-as-prefix",
        lambda host: delete("/devices/2", f"Origin: http://{host}.evil.example")(host),
        403,
        detail=CROSS_SITE,
    ),
    row(
        "cross-site-text-plain-json",
        post("/devices", "Content-Type: text/plain", EVIL, body=DEVICE),
        403,
        detail=CROSS_SITE,
    ),
    row(
        "cross-site-link-api-key-query",
        post(f"{LINK}?api_key=x", EVIL, body=js({"patchbay_id": 4})),
        403,
        detail=CROSS_SITE,
    ),
    row(
        "cross-site-chunked-unlink",
        post(UNLINK, EVIL, CHUNKED, body=chunked(b"x")),
        403,
        detail=CROSS_SITE,
    ),
    *(
        row(f"cross-site-origin-{name}", post(UNLINK, f"Origin: {value}"), 403, detail=CROSS_SITE)
        for name, value in (
            ("unclosed-ipv6", "http://[evil"),
            ("bad-ipv6", "http://[abc]"),
            ("bad-port", "http://evil.example:port"),
            ("no-scheme", "evil.example"),
        )
    ),
    # --- Issue findings: other sites' Host names -----------------------------------------------
    *(
        row(
            f"host-{name}",
            get("/state", f"Host: {value}", host=False),
            400,
            detail=HOST_NOT_ALLOWED,
        )
        for name, value in (
            ("evil-example", "evil.example"),
            ("attacker-com-8000", "attacker.com:8000"),
            ("nip-io", "127.0.0.1.nip.io"),
            ("upper-case-trailing-dot", "EVIL.EXAMPLE."),
            ("userinfo", "127.0.0.1@evil.example"),
        )
    ),
    row(
        "host-evil-on-a-write",
        post(UNLINK, "Host: evil.example", host=False),
        400,
        detail=HOST_NOT_ALLOWED,
    ),
    row(
        "host-twice-evil-first",
        lambda host: get("/state", "Host: evil.example", f"Host: {host}", host=False)(host),
        400,
        wire=True,
    ),
    # --- Issue findings: text and numbers that JSON allows and PostgreSQL does not -------------
    row(
        "surrogate-device-name",
        post("/devices", body=surrogate('{"name": @, "type": "Synth", "ports": []}')),
        422,
    ),
    row(
        "surrogate-port-label",
        post(
            "/devices",
            body=surrogate('{"name": "A", "type": "B", "ports": [{"label": @, "type": "Input"}]}'),
        ),
        422,
    ),
    row(
        "surrogate-port-type",
        post(
            "/devices",
            body=surrogate('{"name": "A", "type": "B", "ports": [{"label": "L", "type": @}]}'),
        ),
        422,
    ),
    row("surrogate-point-name", post("/patchbay-points", body=surrogate('{"name": @}')), 422),
    row("surrogate-as-a-key", http("PATCH", "/devices/1", JSON, body=surrogate('{@: "x"}')), 422),
    row(
        "surrogate-raw-utf8-bytes",
        http("PATCH", f"/ports/{LINKED}", JSON, body=b'{"label": "a\xed\xa0\x80b"}'),
        (400, 422),
    ),
    *(
        row(f"id-{name}-in-body", post(LINK, body=b'{"patchbay_id": %s}' % value), 422)
        for name, value in (("1e400", b"1e400"), ("nan", b"NaN"), ("minus-infinity", b"-Infinity"))
    ),
    *(
        row(f"id-{name}-in-path", delete(f"/devices/{value}"), 422)
        for name, value in (("1e400", "1e400"), ("nan", "NaN"), ("minus-infinity", "-Infinity"))
    ),
    row(
        "id-nan-for-a-port-point",
        post(
            "/devices",
            body=b'{"name": "A", "type": "B", '
            b'"ports": [{"label": "L", "type": "Input", "patchbay_id": NaN}]}',
        ),
        422,
    ),
    # --- Issue findings: forged access-log lines -----------------------------------------------
    row(
        "path-lf-forges-a-log-line",
        get("/ports/x%0aFORGED%20GET%20admin%20200"),
        404,
        detail="Port not found",
        logged="x\\x0aFORGED",
    ),
    row(
        "path-crlf-forges-a-log-line",
        post("/ports/x%0d%0aFORGED%20POST%20admin%20200/unlink"),
        404,
        detail="Port not found",
        logged="x\\x0d\\x0aFORGED",
    ),
    row(
        "path-line-separator-forges-a-log-line",
        get("/ports/x%E2%80%A8FORGED%20GET%20admin%20200"),
        404,
        detail="Port not found",
        logged="x\\u2028FORGED",
    ),
    row(
        "path-bidi-override-in-the-log",
        get("/ports/x%E2%80%AEnimda"),
        404,
        detail="Port not found",
        logged="x\\u202enimda",
    ),
    row(
        "request-id-with-spaces",
        get("/health", "X-Request-ID: FORGED line 200"),
        200,
        check=request_id_not_taken,
    ),
    # --- Odd methods ---------------------------------------------------------------------------
    row("method-trace", http("TRACE", "/health", "X-Secret: 1"), 405, check=not_echoed),
    row(
        "method-connect-other-site",
        http("CONNECT", "evil.example:443", "Host: evil.example:443", host=False),
        (400, 404, 405),
        wire=True,
    ),
    row(
        "method-connect-own-host",
        lambda host: http("CONNECT", host)(host),
        (400, 404, 405),
        wire=True,
    ),
    row("method-propfind", http("PROPFIND", "/state", "Depth: 1"), 405),
    row("method-lower-case-get", http("get", "/health"), (400, 405), wire=True),
    row("method-lower-case-delete", http("delete", "/devices/1"), (400, 405), wire=True),
    row("method-200-characters", http("M" * 200, "/health"), (400, 405), wire=True),
    row("method-options-without-cors", http("OPTIONS", "/devices"), 405),
    row(
        "method-options-preflight-without-cors",
        http("OPTIONS", UNLINK, EVIL, "Access-Control-Request-Method: POST"),
        405,
    ),
    row("method-m-search-asterisk", http("M-SEARCH", "*"), (400, 404, 405), wire=True),
    row("method-patch-on-unlink", http("PATCH", UNLINK, JSON, body=b"{}"), 405),
    row(
        "method-override-header",
        get("/devices/1", "X-HTTP-Method-Override: DELETE"),
        200,
        unchanged=True,
    ),
    # --- Odd request lines and headers ---------------------------------------------------------
    row("http-0.9-request-line", parts(b"GET /health\r\n\r\n"), (200, 400, 505), wire=True),
    row("http-0.9-write", parts(b"DELETE /devices/1\r\n\r\n"), (200, 400, 505), wire=True),
    row("http-1.0-without-host", get("/state", host=False, version="HTTP/1.0"), 400),
    row("http-1.1-without-host", get("/state", host=False), 400, wire=True),
    row("http-2.0-request-line", get("/health", version="HTTP/2.0"), (200, 400, 505), wire=True),
    row("absolute-form-other-site", get("http://evil.example/state"), (200, 400, 404)),
    row("path-10kb", get("/ports/" + "a" * 10_000), (414, 422)),
    row("path-10kb-of-digits", delete("/devices/" + "9" * 10_000), (414, 422)),
    # The HTTP parser refuses the header after 16 kB with a 400 and closes while the client is
    # still sending: the reset the client's unread bytes cause can arrive before the 400 does.
    row(
        "header-100kb",
        get("/state", "X-Junk: " + "j" * 100_000),
        (200, 400, 431, CLOSED),
        wire=True,
    ),
    row(
        "headers-500",
        get("/state", *(f"X-Junk-{n}: {n}" for n in range(500))),
        (200, 400, 431),
        wire=True,
    ),
    row(
        "headers-never-finished",
        parts(b"POST /devices HTTP/1.1\r\nHost: x\r\nContent-Ty", 0.1, SHUT),
        (400, CLOSED),
        wire=True,
    ),
    row(
        "slow-headers",
        slow(request("POST", "/patchbay-points", JSON, body=POINT), b"Host: "),
        (201, 400, 408),
        check=points_made(1),
    ),
    row("header-with-nul", get("/state", b"X-Junk: a\x00b"), 400, wire=True),
    row("header-with-bare-cr", post(UNLINK, b"X-Junk: a\rb"), 400, wire=True),
    row("header-with-bare-lf", post(UNLINK, b"X-Junk: a\nb"), 400, wire=True),
    row("header-name-with-space", post(UNLINK, "X Junk: 1"), 400, wire=True),
    row("header-name-not-ascii", post(UNLINK, "X-J\u00fcnk: 1"), 400, wire=True),
    row("header-without-colon", post(UNLINK, "X-Junk"), 400, wire=True),
    row("header-obs-fold", get("/state", "X-Junk: a", " folded"), (200, 400), wire=True),
    row(
        "header-values-not-utf8",
        get("/state", b"If-None-Match: \xff\xfe", b"X-Request-ID: \xc3\xa9"),
        200,
    ),
    row(
        "header-names-odd-case",
        post(
            "/patchbay-points", "cOnTeNt-TyPe: APPLICATION/JSON", "CONTENT-LENGTH: 14", body=POINT
        ),
        201,
        check=points_made(1),
    ),
    row(
        "content-length-twice-different",
        post("/patchbay-points", "Content-Length: 5", "Content-Length: 14", body=POINT),
        400,
        wire=True,
    ),
    row(
        "content-length-twice-same",
        post("/patchbay-points", "Content-Length: 14", "Content-Length: 14", body=POINT),
        (201, 400),
        wire=True,
    ),
    row(
        "content-length-list",
        post("/patchbay-points", "Content-Length: 14, 14", body=POINT),
        (201, 400),
        wire=True,
    ),
    row(
        "content-length-leading-zeros",
        post("/patchbay-points", "Content-Length: 0000014", body=POINT),
        (201, 400),
        wire=True,
    ),
    *(
        row(
            f"content-length-{name}",
            post("/patchbay-points", f"Content-Length: {value}", body=POINT),
            (400, 413),
            wire=True,
        )
        for name, value in (
            ("minus-1", "-1"),
            ("1e3", "1e3"),
            ("plus-sign", "+14"),
            ("hex", "0xe"),
            ("overflow", "9" * 30),
            ("empty", ""),
        )
    ),
    row(
        "te-gzip-chunked",
        post("/devices", "Transfer-Encoding: gzip, chunked", body=chunked(gzip.compress(DEVICE))),
        (400, 415, 422),
        wire=True,
    ),
    row(
        "te-chunked-gzip",
        post("/devices", "Transfer-Encoding: chunked, gzip", body=chunked(DEVICE)),
        400,
        wire=True,
    ),
    row(
        "te-chunked-twice",
        post("/devices", CHUNKED, CHUNKED, body=chunked(DEVICE)),
        (201, 400),
        wire=True,
    ),
    row(
        "te-identity",
        post("/patchbay-points", "Transfer-Encoding: identity", body=POINT),
        (201, 400, 411),
        wire=True,
    ),
    row(
        "te-and-content-length",
        post("/patchbay-points", "Content-Length: 4", CHUNKED, body=chunked(POINT)),
        (201, 400),
        wire=True,
        check=points_made(1),
    ),
    *(
        row(
            f"chunk-size-{name}",
            post("/patchbay-points", CHUNKED, body=size + b"\r\n" + POINT + b"\r\n0\r\n\r\n"),
            # A size larger than what follows leaves the server waiting for the rest: 408.
            (400, 408, 413, 422),
            wire=True,
        )
        for name, size in (
            ("not-hex", b"zz"),
            ("negative", b"-e"),
            ("0x-prefix", b"0xe"),
            ("overflow", b"f" * 20),
            ("empty", b""),
            ("too-small", b"4"),
        )
    ),
    row(
        "chunk-extension",
        post("/patchbay-points", CHUNKED, body=chunked(POINT, size=4, extension=b";name=value")),
        (201, 400),
        check=points_made(1),
    ),
    row(
        "chunk-extension-100kb",
        post("/patchbay-points", CHUNKED, body=chunked(POINT, extension=b";x=" + b"e" * 100_000)),
        (201, 400, 413),
        wire=True,
        check=points_made(1),
    ),
    row(
        "chunked-never-terminated",
        parts(
            request("POST", "/devices", JSON, CHUNKED), b"10\r\n" + DEVICE[:16] + b"\r\n", 0.2, SHUT
        ),
        (400, CLOSED),
        wire=True,
    ),
    row(
        "chunked-reset-mid-chunk",
        parts(request("POST", "/devices", JSON, CHUNKED), b"40\r\n" + DEVICE[:16], 0.2, RESET),
        CLOSED,
        wire=True,
    ),
    row(
        "slow-body",
        slow(request("POST", "/patchbay-points", JSON, body=POINT), b"\r\n\r\n"),
        (201, 400, 408),
        check=points_made(1),
    ),
    row(
        "expect-100-continue",
        post("/patchbay-points", "Expect: 100-continue", body=POINT),
        (201, 417),
        check=points_made(1),
    ),
    row(
        "expect-unknown",
        post("/patchbay-points", "Expect: 200-ok", body=POINT),
        (201, 417),
        check=points_made(1),
    ),
    row(
        "upgrade-websocket-on-state",
        get(
            "/state",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ),
        (200, 400, 403, 404, 426),
        wire=True,
    ),
    row(
        "upgrade-websocket-other-site",
        get(
            "/state",
            "Host: evil.example",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            host=False,
        ),
        (400, 403, 404, 426),
        wire=True,
    ),
    row(
        "upgrade-h2c",
        get(
            "/state",
            "Connection: Upgrade, HTTP2-Settings",
            "Upgrade: h2c",
            "HTTP2-Settings: AAMAAABkAAQAAP__",
        ),
        (200, 400),
    ),
    row("tls-client-hello", parts(GARBAGE), (400, CLOSED), wire=True),
    # --- Pipelining ----------------------------------------------------------------------------
    row(
        "pipelined-four",
        at_once(
            request("GET", "/health", close=False),
            request("GET", "/state", close=False),
            request("POST", UNLINK, EVIL, close=False),
            request("GET", "/state"),
        ),
        200,
        then=[200, 403, 200],
        unchanged=True,
    ),
    row(
        "pipelined-100",
        at_once(*[request("GET", "/health", close=False)] * 99, request("GET", "/health")),
        200,
        then=[200] * 99,
    ),
    row(
        "pipelined-two-writes",
        at_once(
            request("POST", "/patchbay-points", JSON, body=POINT, close=False),
            request("POST", "/patchbay-points", JSON, body=POINT),
        ),
        201,
        then=[201],
        check=points_made(2),
    ),
    row(
        "pipelined-get-with-a-body",
        at_once(request("GET", "/state", body=b"GET /x", close=False), request("GET", "/health")),
        200,
        then=[200],
    ),
    row(
        "pipelined-read-then-garbage",
        at_once(request("GET", "/health", close=False), lambda host: GARBAGE),
        200,
        then=[(400, CLOSED)],
        wire=True,
    ),
    row(
        "pipelined-unlink-then-garbage",
        at_once(request("POST", UNLINK, close=False), lambda host: GARBAGE),
        200,
        then=[(400, CLOSED)],
        wire=True,
    ),
    row(
        "pipelined-delete-then-garbage",
        at_once(request("DELETE", "/devices/2", close=False), lambda host: GARBAGE),
        200,
        then=[(400, CLOSED)],
        wire=True,
    ),
    # --- Odd bodies and encodings --------------------------------------------------------------
    row(
        "body-not-utf8",
        post("/devices", body=b'{"name": "\xff\xfe", "type": "Synth", "ports": []}'),
        400,
    ),
    row("body-overlong-utf8", post("/patchbay-points", body=b'{"name": "\xc0\xaf"}'), 400),
    row(
        "body-utf16-with-bom",
        post("/devices", body=DEVICE.decode().encode("utf-16")),
        (201, 400, 415, 422),
    ),
    row(
        "body-utf32", post("/devices", body=DEVICE.decode().encode("utf-32")), (201, 400, 415, 422)
    ),
    row("body-utf8-bom", post("/devices", body=b"\xef\xbb\xbf" + DEVICE), (201, 400, 422)),
    row("body-nested-100000-arrays", post("/devices", body=b"[" * 100_000), (400, 422)),
    row(
        "body-nested-100000-objects",
        post("/patchbay-points/bulk", body=b'{"a":' * 100_000),
        (400, 422),
    ),
    row(
        "body-nested-900-in-a-field",
        post(
            "/devices",
            body=b'{"name": "A", "type": "B", "ports": ' + b"[" * 900 + b"]" * 900 + b"}",
        ),
        (400, 422),
    ),
    row(
        "body-900kb-name",
        post("/devices", body=js({"name": "n" * 900_000, "type": "Synth", "ports": []})),
        422,
    ),
    row("body-500-ports-200-character-labels", post("/devices", body=ports(500, "l" * 200)), 201),
    row(
        "body-500-ports-201-character-labels",
        post("/devices", body=ports(500, "l" * 201)),
        422,
        max_body=256 * 1024,
    ),
    row("body-501-ports", post("/devices", body=ports(501)), 422),
    row("body-20000-ports", post("/devices", body=ports(20_000)), 422),
    row("body-id-as-string", post(LINK, body=js({"patchbay_id": "4"})), 422),
    row("body-id-as-boolean", post(LINK, body=js({"patchbay_id": True})), 422),
    row(
        "body-port-point-as-string",
        post(
            "/devices",
            body=js(
                {
                    "name": "A",
                    "type": "B",
                    "ports": [{"label": "L", "type": "Input", "patchbay_id": "4"}],
                }
            ),
        ),
        422,
    ),
    row(
        "body-charset-latin-1",
        post(
            "/patchbay-points",
            "Content-Type: application/json; charset=latin-1",
            body=b'{"name": "caf\xe9"}',
        ),
        (201, 400, 415),
    ),
    row(
        "body-text-plain-json",
        post("/devices", "Content-Type: text/plain", body=DEVICE),
        (415, 422),
    ),
    row(
        "body-multipart",
        post(
            "/devices",
            "Content-Type: multipart/form-data; boundary=b",
            body=b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nA\r\n--b--\r\n',
        ),
        (415, 422),
    ),
    row("body-form-urlencoded", post("/patchbay-points", FORM, body=b"name=C1"), (415, 422)),
    row(
        "body-gzip-content-encoding",
        post("/devices", "Content-Encoding: gzip", body=gzip.compress(DEVICE)),
        (400, 415),
    ),
    row("body-empty-json", post("/devices", JSON), 422),
    row("body-empty-link", post(LINK, JSON), 422),
    row("body-null", post("/devices", body=b"null"), 422),
    row("body-trailing-garbage", post(LINK, body=b'{"patchbay_id": 4} x'), 422),
    row(
        "body-duplicate-keys",
        post(LINK, body=b'{"patchbay_id": 99999, "patchbay_id": 4}'),
        (200, 404, 422),
    ),
    row("body-10e400-as-id", post(LINK, body=b'{"patchbay_id": 1%s}' % (b"0" * 400)), 422),
    row("body-10e5000-as-id", post(LINK, body=b'{"patchbay_id": 1%s}' % (b"0" * 5000)), (400, 422)),
    row("body-float-id", post(LINK, body=b'{"patchbay_id": 4.5}'), 422),
    row(
        "body-negative-id",
        post(LINK, body=b'{"patchbay_id": -4}'),
        404,
        detail="Patchbay point not found",
    ),
    row(
        "body-id-over-int32",
        http("PUT", f"/ports/{LINKED}/patchbay", JSON, body=b'{"patchbay_id": 2147483648}'),
        422,
    ),
    row("path-float-id", get("/devices/1.5"), 422),
    row("path-negative-id", delete("/devices/-1"), 404, detail="Device not found"),
    row("path-id-under-int32", delete("/devices/-2147483649"), 422),
    row("port-id-with-slash", post("/ports/dev-1/port-1/unlink"), 404),
    row("port-id-with-encoded-slash", get("/ports/dev-1%2Fport-1"), 404),
    row("port-id-dot-dot", delete("/ports/.."), 404, detail="Port not found"),
    row(
        "port-id-dot-dot-traversal",
        delete("/ports/..%2F..%2Fdevices%2F1"),
        404,
        check=device_kept(1),
    ),
    row("port-id-nul", post(f"/ports/{LINKED}%00/unlink"), 422, check=still_linked(LINKED, 1)),
    row(
        "port-id-1000-characters",
        post("/ports/" + "p" * 1000 + "/link", body=js({"patchbay_id": 4})),
        422,
    ),
    row("port-id-emoji", delete("/ports/%F0%9F%8E%B9"), 404, detail="Port not found"),
    row("port-id-emoji-unencoded", delete("/ports/\U0001f3b9"), (400, 404), wire=True),
    row("port-id-encoded-surrogate", delete("/ports/a%ED%A0%80b"), 404),
    row("port-id-bad-percent", delete("/ports/%zz%"), 404),
    row("port-id-reserved-bulk-link", delete("/ports/bulk-link"), 405),
    row(
        "body-90000-unknown-keys",
        http("PATCH", "/devices/1", JSON, body=MANY_KEYS),
        422,
        max_body=MIB,  # a refusal is never larger than the largest request
    ),
    # --- Odd paths -----------------------------------------------------------------------------
    row("target-without-slash", get("state"), (400, 404), wire=True),
    row("target-asterisk-options", http("OPTIONS", "*"), (400, 404, 405), wire=True),
    row("trailing-slash-write", post("/devices/", body=DEVICE), (307, 404), unchanged=True),
    row("method-put-on-nul-port", http("PUT", "/ports/%00", JSON, body=b"{}"), 405),
    row("assets-nul", get("/docs-assets/a%00b"), 404),
    row("assets-traversal-encoded", get("/docs-assets/..%2F..%2F..%2F..%2Fetc%2Fpasswd"), 404),
    row("assets-traversal", get("/docs-assets/../../../../etc/passwd"), 404),
    row("assets-5000-characters", get("/docs-assets/" + "a" * 5000), 404),
    # --- Query strings -------------------------------------------------------------------------
    row("query-device-id-huge", get("/ports?device_id=" + "9" * 400), 422),
    row("query-device-id-1e400", get("/ports?device_id=1e400"), 422),
    row("query-device-id-nul", get("/ports?device_id=%00"), 422),
    row(
        "query-repeated", get("/ports?device_id=1&device_id=2&linked=true&linked=false"), (200, 422)
    ),
    row("query-linked-maybe", get("/ports?linked=maybe"), 422),
    row("query-linked-not-utf8", get("/ports?linked=%ff"), 422),
    row("query-api-key-on-state", get("/state?api_key=secret"), 200),
    row("query-api-key-on-a-write", post(f"{UNLINK}?api_key=secret", EVIL), 403, detail=CROSS_SITE),
    # A 68 kB request line: as for "header-100kb", the parser's 400 may lose the race with the
    # reset the client's unread bytes cause.
    row(
        "query-10000-parameters",
        get("/ports?" + "&".join(f"x{n}=1" for n in range(10_000))),
        (200, 400, 414, 431, CLOSED),
        wire=True,
    ),
    row(
        "state-odd-if-none-match",
        get("/state", 'If-None-Match: W/"' + "9" * 5000 + '", "", W/'),
        200,
    ),
    # --- Event streams: 3 slots, a keep-alive every 0.2 s --------------------------------------
    *(
        row(
            f"events-last-event-id-{name}",
            get("/events", b"Last-Event-ID: " + value),
            200,
            server="events",
            stream=b"data:",
        )
        for name, value in (
            ("superscript-two", "\u00b2".encode()),
            ("5000-digits", b"7" * 5000),
            ("minus-1", b"-1"),
            ("not-utf8", b"\xff\xfe\x80"),
            ("fullwidth-digits", "\uff11\uff12".encode()),
            ("arabic-indic-digit", "\u0661".encode()),
            ("19-digits", b"9" * 19),
            ("18-digits", b"9" * 18),
            ("empty", b""),
        )
    ),
    row(
        "events-http-1.0", get("/events", version="HTTP/1.0"), 200, server="events", stream=b"data:"
    ),
    row(
        "events-shut-after-request",
        parts(request("GET", "/events"), SHUT),
        (200, CLOSED),
        wire=True,
        server="events",
        stream=b"data:",
    ),
    row(
        "events-reset-after-request",
        parts(request("GET", "/events"), RESET),
        CLOSED,
        wire=True,
        server="events",
        stream=b"data:",
    ),
    row(
        "events-other-site",
        get("/events", "Host: evil.example", host=False),
        400,
        detail=HOST_NOT_ALLOWED,
        server="events",
        stream=b"data:",
    ),
    row(
        "events-post-cross-site",
        post("/events", EVIL),
        403,
        detail=CROSS_SITE,
        server="events",
        stream=b"data:",
    ),
    row("events-post", post("/events"), 405, server="events", stream=b"data:"),
    row(
        "events-then-pipelined-delete",
        at_once(request("GET", "/events", close=False), request("DELETE", "/devices/1")),
        200,
        server="events",
        stream=b"data:",
        unchanged=True,
    ),
    # --- Part D: bays, cables, scenes, history, export --------------------------------------
    row(
        "bay-from-another-site",
        post("/bays", EVIL, body=js({"name": "X", "channels": 2})),
        403,
        detail=CROSS_SITE,
    ),
    row("bay-channels-1e400", post("/bays", body=b'{"name": "X", "channels": 1e400}'), 422),
    row("bay-channels-97", post("/bays", body=js({"name": "X", "channels": 97})), 422),
    row("bay-name-surrogate", post("/bays", body=surrogate('{"name": @, "channels": 2}')), 422),
    row("bay-name-191", post("/bays", body=js({"name": "b" * 191, "channels": 2})), 422),
    row(
        "bay-modes-backwards",
        http("PATCH", "/bays/1/channels", JSON, body=js({"first": 2, "last": 1, "mode": "thru"})),
        422,
    ),
    row(
        "bay-modes-past-the-bay",
        http("PATCH", "/bays/1/channels", JSON, body=js({"first": 1, "last": 50, "mode": "thru"})),
        422,
    ),
    row("bay-channel-huge", http("PUT", "/bays/1/channels/" + "9" * 30, JSON, body=b"{}"), 422),
    row(
        "bay-slot-same-point-twice",
        http("PUT", "/bays/1/channels/2", JSON, body=js({"top_point_id": 3, "bottom_point_id": 3})),
        422,
    ),
    row("bay-delete-from-another-site", delete("/bays/1", EVIL), 403, detail=CROSS_SITE),
    row("bay-delete-in-use", delete("/bays/1"), 409, unchanged=True),
    row("cable-to-itself", post("/cables", body=js({"points": [3, 3]})), 422),
    row("cable-text-points", post("/cables", body=js({"points": ["3", "4"]})), 422),
    row("cable-three-points", post("/cables", body=js({"points": [1, 2, 3]})), 422),
    row("cable-into-a-patched-jack", post("/cables", body=js({"points": [3, 4]})), 409),
    row("cable-color-51", post("/cables", body=js({"points": [1, 3], "color": "c" * 51})), 422),
    row("cable-unplug-from-another-site", delete("/cables/1", EVIL), 403, detail=CROSS_SITE),
    row(
        "cable-relabel-form-from-another-site",
        http("PATCH", "/cables/1", FORM, EVIL, body=b"label=x"),
        403,
        detail=CROSS_SITE,
    ),
    row(
        "signal-flow-if-none-match-junk",
        get("/signal-flow", 'If-None-Match: W/"\x00"'),
        (200, 400),
        wire=True,
    ),
    row("port-signal-nul", get("/ports/%00/signal"), 422),
    row("labels-width-nan", get("/bays/1/labels.svg?width_mm=nan"), 422),
    row("labels-width-inf", get("/bays/1/labels.svg?width_mm=inf"), 422),
    row("labels-width-1e309", get("/bays/1/labels.svg?width_mm=1e309"), 422),
    row("labels-width-negative", get("/bays/1/labels.svg?width_mm=-482.6"), 422),
    row("labels-parts-zero", get("/bays/1/labels.svg?parts=0"), 422),
    row("labels-parts-huge", get("/bays/1/labels.svg?parts=" + "9" * 30), 422),
    row("labels-bay-huge", get("/bays/" + "9" * 30 + "/labels.svg"), 422),
    row("labels-unknown-bay", get("/bays/999/labels.svg"), 404),
    row("scene-apply-from-another-site", post("/scenes/1/apply", EVIL), 403, detail=CROSS_SITE),
    row("scene-apply-form", post("/scenes/1/apply", FORM, "Sec-Fetch-Site: cross-site"), 403),
    row(
        "scene-apply-stale-if-match",
        post("/scenes/1/apply", 'If-Match: W/"1"'),
        412,
        unchanged=True,
    ),
    row(
        "scene-apply-junk-if-match",
        post("/scenes/1/apply", "If-Match: \x7f\x01"),
        (400, 412),
        wire=True,
    ),
    row("scene-name-nul", post("/scenes", body=js({"name": "a\x00"})), 422),
    row("scene-skip-missing-maybe", post("/scenes/1/apply?skip_missing=maybe"), 422),
    row("history-limit-1e400", get("/history?limit=1e400"), 422),
    row("history-before-huge", get("/history?before=" + "9" * 40), 422),
    row(
        "history-revert-from-another-site", post("/history/1/revert", EVIL), 403, detail=CROSS_SITE
    ),
    row("history-revert-huge", post("/history/" + "9" * 30 + "/revert"), 422),
    row("history-changes-limit-0", get("/history/1/changes?limit=0"), 422),
    row("history-changes-limit-huge", get("/history/1/changes?limit=" + "9" * 40), 422),
    row("history-changes-after-negative", get("/history/1/changes?after=-1"), 422),
    row("history-changes-after-huge", get("/history/1/changes?after=" + "9" * 40), 422),
    row("history-changes-after-text", get("/history/1/changes?after=abc"), 422),
    row("history-changes-revision-huge", get("/history/" + "9" * 30 + "/changes"), 422),
    row(
        "history-changes-unknown",
        get("/history/999999999/changes"),
        404,
        detail="History entry not found",
    ),
    row("history-changes-post", post("/history/1/changes"), 405),
    # --- HEAD on every GET, and bodies that are not JSON -------------------------------------
    row("head-state", http("HEAD", "/state"), 200, head=True),
    row("head-unknown-device", http("HEAD", "/devices/999"), 404, head=True),
    row("head-with-a-body", http("HEAD", "/state", JSON, body=b"{}"), (200, 400), head=True),
    row("head-on-a-post-only-path", http("HEAD", "/ports/bulk-link"), 405, head=True),
    row("head-events", http("HEAD", "/events"), 200, server="events", head=True),
    row(
        "json-as-text-plain",
        post("/devices", "Content-Type: text/plain", body=DEVICE),
        415,
        detail=NOT_JSON,
        unchanged=True,
    ),
    row(
        "json-as-form",
        post(LINK, FORM, body=js({"patchbay_id": 2})),
        415,
        detail=NOT_JSON,
        unchanged=True,
    ),
    row(
        "json-without-content-type",
        http("POST", "/patchbay-points", body=POINT),
        415,
        detail=NOT_JSON,
        unchanged=True,
    ),
    row(
        "json-as-xml-chunked",
        post("/devices", "Content-Type: application/xml", CHUNKED, body=chunked(DEVICE)),
        415,
        detail=NOT_JSON,
        unchanged=True,
    ),
    row(
        "import-surrogate",
        post(
            "/import",
            body=surrogate(
                '{"format": "pepper-studio", "version": 1, "bays": [{"id": 1, "name": @, "channels": []}]}'
            ),
        ),
        422,
    ),
    row(
        "import-wrong-format",
        post("/import?dry_run=false", body=js({"format": "other", "version": 1})),
        422,
    ),
    row(
        "import-from-another-site",
        post("/import?dry_run=false", EVIL, body=js({"format": "pepper-studio", "version": 1})),
        403,
        detail=CROSS_SITE,
    ),
    row(
        "import-empties-nothing-on-a-dry-run",
        post("/import", body=js({"format": "pepper-studio", "version": 1})),
        200,
        unchanged=True,
    ),
    # --- The bounds of the imports (SPEC G): 413 naming the bound, before the studio is held ---
    *(
        row(
            f"import-over-{name}",
            post("/import?dry_run=false", body=document),
            413,
            detail=f"Too many {what}: at most {bound:,} in one request",
            unchanged=True,
        )
        for name, document, what, bound in (
            ("points", studio_document(points=40_001), "patchbay points", 40_000),
            ("ports", studio_document(ports=40_001), "ports", 40_000),
            (
                "scene-items",
                studio_document(scene_links=200_001),
                "scene links, cables and modes",
                200_000,
            ),
        )
    ),
    *(
        row(f"import-{name}", post("/import?dry_run=false", body=body), 422, unchanged=True)
        for name, body in (
            ("one-brace", b"{"),
            ("a-list", b"[]"),
            ("deep-brackets", b"[" * 100_000),
            ("number-5000-digits", b'{"format": "pepper-studio", "version": ' + b"9" * 5000 + b"}"),
            ("long-run-of-numbers", b'{"points": [' + b"1," * 450_000 + b"1]}"),
            ("item-of-1000-objects", b'{"cables": [{"x": [' + b"{}," * 999 + b"{}]}]}"),
            ("not-utf8", b'{"format": "pepper-studio\xff"}'),
            ("key-twice", b'{"format": "pepper-studio", "format": "pepper-studio", "version": 1}'),
            (
                "scene-cable-to-itself",
                js(
                    {
                        "format": "pepper-studio",
                        "version": 1,
                        "scenes": [
                            {
                                "id": 1,
                                "name": "S",
                                "created_at": "2026-01-01T00:00:00+00:00",
                                "updated_at": "2026-01-01T00:00:00+00:00",
                                "links": [],
                                "cables": [{"points": [5, 5], "label": "", "color": None}],
                                "modes": [],
                            }
                        ],
                    }
                ),
            ),
        )
    ),
    row(
        "import-as-text-plain",
        post("/import?dry_run=false", "Content-Type: text/plain", body=studio_document()),
        415,
        detail=NOT_JSON,
        unchanged=True,
    ),
    *(
        row(
            f"csv-over-{name}",
            post("/import/patch-list.csv?dry_run=false", "Content-Type: text/csv", body=body),
            413,
            detail=f"Too many {what}: at most {bound:,} in one request",
            unchanged=True,
        )
        for name, body, what, bound in (
            ("rows", CSV_HEADER + b",,,,,,,,,,,\r\n" * 40_001, "rows", 40_000),
            (
                "points",
                CSV_HEADER + b"".join(b",,,,P%d,,,,,,,\r\n" % n for n in range(20_001)),
                "rows with a point",
                20_000,
            ),
            (
                "channels",
                CSV_HEADER + b"".join(b"B%d,96,top,,,,,,,,,\r\n" % n for n in range(209)),
                "bay channels",
                20_000,
            ),
        )
    ),
    row(
        "csv-nearly-16mib-of-points",
        post(
            "/import/patch-list.csv",
            "Content-Type: text/csv",
            body=CSV_HEADER + b",,,,P,,,,,,,\r\n" * 1_198_000,
        ),
        413,
        unchanged=True,
    ),
    row(
        "csv-twin-device-without-the-first",
        post(
            "/import/patch-list.csv?dry_run=false",
            "Content-Type: text/csv",
            body=CSV_HEADER + b",,,,P1,,Synth [2],Synth,OUT,Output,,\r\n",
        ),
        422,
        unchanged=True,
    ),
    row(
        "csv-tab-first",
        post(
            "/import/patch-list.csv",
            "Content-Type: text/csv",
            body=CSV_HEADER + b",,,,\tP,,,,,,,\r\n",
        ),
        200,
        unchanged=True,
    ),
    # --- Patch safety: electrical values and the checks ---------------------------------------
    row(
        "electrical-phantom-text",
        http("PATCH", f"/ports/{LINKED}/electrical", JSON, body=js({"phantom": "yes"})),
        422,
        unchanged=True,
    ),
    row("electrical-port-nul", http("PATCH", "/ports/%00/electrical", JSON, body=b"{}"), 422),
    row(
        "electrical-over-1mib",
        http("PATCH", f"/ports/{LINKED}/electrical", JSON, body=HUGE_DEVICE),
        413,
        detail=BODY_TOO_LARGE,
    ),
    row(
        "electrical-device-huge",
        http("PUT", "/devices/2147483648/electrical", JSON, body=js({"ports": []})),
        422,
    ),
    row(
        "electrical-501-ports",
        http(
            "PUT",
            "/devices/1/electrical",
            JSON,
            body=js({"ports": [{"port_id": f"p{n}"} for n in range(501)]}),
        ),
        422,
        unchanged=True,
    ),
    row(
        "preview-501-steps",
        post("/checks/preview", body=js({"steps": [{"action": "plug", "points": [1, 2]}] * 501})),
        422,
    ),
    row(
        "preview-cable-to-itself",
        post("/checks/preview", body=js({"steps": [{"action": "plug", "points": [1, 1]}]})),
        422,
    ),
    row(
        "preview-point-huge",
        post("/checks/preview", body=js({"steps": [{"action": "plug", "points": [1, 2**31]}]})),
        422,
    ),
    row(
        "preview-as-text-plain",
        post("/checks/preview", "Content-Type: text/plain", body=js({"steps": []})),
        415,
        detail=NOT_JSON,
    ),
    row("preview-over-1mib", post("/checks/preview", body=HUGE_DEVICE), 413, detail=BODY_TOO_LARGE),
    row("checks-if-none-match-junk", get("/checks", "If-None-Match: garbage"), 200),
    row("scene-apply-accept-risk-maybe", post("/scenes/1/apply?accept_risk=maybe"), 422),
    row(
        "import-chunked-over-16mib",
        post("/import?dry_run=false", CHUNKED, body=chunked(b" " * (17 * MIB))),
        413,
        detail=BODY_TOO_LARGE,
    ),
    row(
        "csv-not-utf8",
        post(
            "/import/patch-list.csv?dry_run=false", "Content-Type: text/csv", body=b"\xff\xfe\x00b"
        ),
        422,
    ),
    row(
        "csv-bad-header",
        post(
            "/import/patch-list.csv?dry_run=false",
            "Content-Type: text/csv",
            body=b"a,b,c\r\n1,2,3\r\n",
        ),
        422,
    ),
    row(
        "csv-nul-in-a-cell",
        post(
            "/import/patch-list.csv?dry_run=false",
            "Content-Type: text/csv",
            body=b"bay,channel,row,mode,point,description,device,device type,port,port type,cable to,cable label\r\n,,,,A\x00,,,,,,,\r\n",
        ),
        422,
    ),
    row(
        "csv-unclosed-quote",
        post(
            "/import/patch-list.csv?dry_run=false",
            "Content-Type: text/csv",
            body=b'bay,channel,row,mode,point,description,device,device type,port,port type,cable to,cable label\r\n,,,,"A1,,,,,,,,\r\n',
        ),
        422,
    ),
    row(
        "csv-from-another-site",
        post("/import/patch-list.csv?dry_run=false", EVIL, body=b"x"),
        403,
        detail=CROSS_SITE,
    ),
    row(
        "csv-huge-bad-header-not-echoed",
        post(
            "/import/patch-list.csv?dry_run=true", "Content-Type: text/csv", body=b"h" * (2 * MIB)
        ),
        422,
    ),
    row(
        "csv-superscript-channel",
        post(
            "/import/patch-list.csv?dry_run=true",
            "Content-Type: text/csv",
            body=CSV_HEADER + "Bay,\u00b2,top,normalled,Bay 1,,,,,,,\r\n".encode(),
        ),
        422,
    ),
    row("export-post", post("/export"), 405),
    # --- With API keys set: a server that knows two ---------------------------------------------
    row("keyed-no-key", get("/state"), 401, detail=UNAUTHORIZED, server="keyed"),
    row("keyed-right-key", get("/state", f"X-API-Key: {KEY}"), 200, server="keyed"),
    row("keyed-named-key", get("/state", f"X-API-Key: {NAMED_KEY}"), 200, server="keyed"),
    row(
        "keyed-non-ascii-header-key",
        get("/state", b"X-API-Key: \xe2\x82\xac"),
        401,
        detail=UNAUTHORIZED,
        server="keyed",
    ),
    *(
        row(f"keyed-events-query-{name}", get(f"/events?api_key={value}"), 401, server="keyed")
        for name, value in (
            ("euro-sign", "%E2%82%AC"),
            ("not-utf8", "%FF%FE"),
            ("nul", "%00"),
            ("key-with-a-suffix", KEY + "x"),
            ("empty", ""),
        )
    ),
    row(
        "keyed-events-query-right-key",
        get(f"/events?api_key={KEY}"),
        200,
        server="keyed",
        stream=b"data:",
    ),
    row(
        "keyed-state-query-key-not-taken",
        get(f"/state?api_key={KEY}"),
        401,
        detail=UNAUTHORIZED,
        server="keyed",
    ),
    row(
        "keyed-unlink-without-key",
        post(UNLINK),
        401,
        detail=UNAUTHORIZED,
        server="keyed",
        check=still_linked(LINKED, 1),
    ),
    row("keyed-health-is-public", get("/health"), 200, server="keyed"),
    row("keyed-start-page-is-public", get("/"), 200, server="keyed"),
    # --- Roles on keys: refused before anything else is looked at, and nothing changes ---------
    *(
        row(
            f"role-{name}",
            build,
            403,
            detail=KEY_MAY_NOT,
            server="keyed",
            unchanged=True,
            logged="may not",
        )
        for name, build in (
            ("read-unlink", post(UNLINK, f"X-API-Key: {READ_KEY}")),
            ("read-device", post("/devices", f"X-API-Key: {READ_KEY}", body=DEVICE)),
            ("read-broken-json", post("/devices", f"X-API-Key: {READ_KEY}", body=b'{"na')),
            ("read-form", post("/devices", f"X-API-Key: {READ_KEY}", FORM, body=b"name=x")),
            ("read-huge-body", post("/devices", f"X-API-Key: {READ_KEY}", body=HUGE_DEVICE)),
            ("read-no-such-path", post("/nothing/here", f"X-API-Key: {READ_KEY}", body=b"{}")),
            ("patch-device", post("/devices", f"X-API-Key: {PATCH_KEY}", body=DEVICE)),
            ("patch-delete-bay", delete("/bays/1", f"X-API-Key: {PATCH_KEY}")),
            ("patch-revert", post("/history/1/revert", f"X-API-Key: {PATCH_KEY}")),
            (
                "patch-import-dry-run",
                post("/import", f"X-API-Key: {PATCH_KEY}", body=js({"format": "pepper-studio"})),
            ),
            (
                "patch-slots",
                http("PUT", "/bays/1/channels/1", JSON, f"X-API-Key: {PATCH_KEY}", body=b"{}"),
            ),
        )
    ),
    row("role-read-reads", get("/state", f"X-API-Key: {READ_KEY}"), 200, server="keyed"),
    row(
        "role-patch-unlinks",
        post(UNLINK, f"X-API-Key: {PATCH_KEY}"),
        200,
        server="keyed",
        check=still_linked(LINKED, None),
    ),
    row(
        "role-whoami-read",
        get("/whoami", f"X-API-Key: {READ_KEY}"),
        200,
        server="keyed",
    ),
    row("role-whoami-no-key", get("/whoami"), 401, detail=UNAUTHORIZED, server="keyed"),
]


# --- Servers -----------------------------------------------------------------------------------
@dataclass
class Target:
    """One uvicorn process, with its stderr in a file."""

    servers: LiveServers
    log: Path
    log_read: int = 0

    @property
    def url(self) -> str:
        return self.servers.urls[0]

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    @property
    def address(self) -> tuple[str, int]:
        name, port = self.host.split(":")
        return name, int(port)

    def new_log(self) -> str:
        """What the server wrote to stderr since the last call."""
        with self.log.open("rb") as file:
            file.seek(self.log_read)
            written = file.read()
        self.log_read += len(written)
        return written.decode("utf-8", "replace")


def start(database_url: str, log: Path, **env: str) -> Target:
    """`LiveServers` with one process whose stderr goes to `log` (the process inherits fd 2,
    which points at the file while it starts), access lines included."""
    saved = os.dup(2)
    with log.open("wb") as file:
        os.dup2(file.fileno(), 2)
    try:
        servers = LiveServers(database_url, count=1, LOG_LEVEL="INFO", **env)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return Target(servers, log)


@pytest.fixture(scope="module")
def main_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    target = start(database_url, tmp_path_factory.mktemp("hostile") / "main.log")
    yield target
    target.servers.stop()


@pytest.fixture(scope="module")
def events_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    target = start(
        database_url,
        tmp_path_factory.mktemp("hostile") / "events.log",
        SSE_MAX_CLIENTS=str(SSE_MAX_CLIENTS),
        SSE_KEEPALIVE_SECONDS="0.2",
    )
    yield target
    target.servers.stop()


@pytest.fixture(scope="module")
def keyed_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    target = start(
        database_url,
        tmp_path_factory.mktemp("hostile") / "keyed.log",
        API_KEY=KEY,
        API_KEYS=json.dumps(
            {
                "alice": NAMED_KEY,
                "wall": {"key": READ_KEY, "role": "read"},
                "assistant": {"key": PATCH_KEY, "role": "patch"},
            }
        ),
        SSE_KEEPALIVE_SECONDS="0.2",
    )
    yield target
    target.servers.stop()


@pytest.fixture(scope="module")
def studio(database_url: str) -> Iterator[Studio]:
    db = Studio(database_url)
    yield db
    db.empty()  # the tests after this module expect an empty studio
    db.conn.close()


class Tally:
    """What the module sent and got, for the summary line printed at its end."""

    def __init__(self) -> None:
        self.cases = 0
        self.statuses: Counter[str] = Counter()

    def record(self, replies: Sequence[Reply | None]) -> None:
        self.cases += 1
        for reply in replies:
            self.statuses["closed" if reply is None else str(reply.status)] += 1


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    counts = Tally()
    yield counts
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not counts.cases:
        return
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(counts.statuses.items()))
    with capture.global_and_fixture_disabled():
        reporter.write_line(
            f"\nhostile clients: {counts.cases} cases; replies by status: {statuses}"
        )


# --- Checks ------------------------------------------------------------------------------------
def check_reply(case: Case, reply: Reply | None, expected: frozenset[int]) -> None:
    status = CLOSED if reply is None else reply.status
    shown = "closed, no reply" if reply is None else f"{reply.status} {reply.body[:300]!r}"
    assert status < 500, f"server error: {shown}"
    assert status in expected, f"expected {sorted(expected)}, got {shown}"
    if reply is None:
        assert case.wire, "closed without a reply"
        return
    if case.head:
        assert reply.body == b"", "a reply to HEAD with a body"
        return
    if reply.status < 400:
        return
    if case.wire and not reply.headers.get("content-type", "").startswith("application/json"):
        return  # the protocol layer's own refusal (the HTTP parser's plain-text 400)
    assert len(reply.body) < case.max_body, f"{len(reply.body)} bytes came back"
    body = reply.json()
    assert isinstance(body, dict) and "detail" in body, shown
    if case.detail is not None:
        assert body == {"detail": case.detail}, shown
    if reply.status == 405:
        assert "allow" in reply.headers, "405 without Allow"


def refused(replies: Sequence[Reply | None]) -> bool:
    return all(reply is None or 400 <= reply.status < 500 for reply in replies)


def assert_healthy(target: Target) -> str:
    """GET /health on a fresh connection answers within HEALTH_TIMEOUT, and the server logged
    no error and no line a client forged. Returns what it logged."""
    response = httpx.get(f"{target.url}/health", timeout=HEALTH_TIMEOUT)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    log = target.new_log()
    for line in log.splitlines():
        error = "Traceback" in line or " ERROR " in line or line.startswith("ERROR:")
        assert not error, f"the server logged an error:\n{log[-3000:]}"
        assert not line.startswith("FORGED"), f"a forged log line: {line!r}"
    return log


EVENTS = get("/events")


def stream_slots_free(target: Target) -> None:
    """SSE_MAX_CLIENTS streams open at once. A closed stream's slot is freed when the server
    next writes to it (a keep-alive every 0.2 s), so a 503 is retried for a few seconds."""
    deadline = time.monotonic() + 5
    while True:
        opened = [
            open_stream(target.address, EVENTS(target.host), until=b"retry:")
            for _ in range(SSE_MAX_CLIENTS)
        ]
        statuses = [CLOSED if reply is None else reply.status for reply, _ in opened]
        for _, sock in opened:
            hang_up(sock)
        if statuses == [200] * SSE_MAX_CLIENTS:
            return
        assert set(statuses) <= {200, 503}, statuses
        assert time.monotonic() < deadline, f"stream slots still taken: {statuses}"
        time.sleep(0.1)


# --- Tests -------------------------------------------------------------------------------------
def test_the_table() -> None:
    names = [param.id for param in CASES]
    assert len(names) >= 60
    assert len(set(names)) == len(names), "case names are unique"
    # The bodies meant to be over or under the limit are.
    assert min(len(HUGE_DEVICE), len(HUGE_BULK)) > MIB > len(MANY_KEYS)


@pytest.mark.parametrize("case", CASES)
def test_hostile_request(
    case: Case, request: pytest.FixtureRequest, studio: Studio, tally: Tally
) -> None:
    target: Target = request.getfixturevalue(f"{case.server}_server")
    studio.seed()
    target.new_log()
    before = studio.snapshot()
    replies: list[Reply | None]
    if case.stream is not None:
        reply, sock = open_stream(target.address, case.build(target.host), until=case.stream)
        hang_up(sock)
        replies = [reply]
        if reply is not None and reply.status == 200:
            assert case.stream in reply.body, f"the stream sent no {case.stream!r}"
            if case.server == "events":
                # The stream ends (its slot is free) before the log is read: whatever it did
                # on learning that the client left is in the log.
                stream_slots_free(target)
    else:
        replies = exchange(
            target.address, case.build(target.host), replies=1 + len(case.then), head=case.head
        )
    tally.record(replies)
    # Replies that never came (the connection closed) count as closed.
    padded_replies = replies + [None] * (1 + len(case.then) - len(replies))
    for reply, expected in zip(padded_replies, (case.expect, *case.then), strict=True):
        check_reply(case, reply, expected)
    log = assert_healthy(target)
    if case.logged is not None:
        assert case.logged in log
    if case.unchanged or refused(replies):
        assert studio.snapshot() == before, "a refused request changed the studio"
    if case.check is not None:
        case.check(replies[0], studio)
    if case.server == "events":
        stream_slots_free(target)


BAD_REQUESTS: list[Builder] = [
    post(UNLINK, EVIL),
    delete("/devices/1", "Host: evil.example", host=False),
    post("/devices", body=b'{"name": "\xff"}'),
    post("/devices", body=b"[" * 100_000),
    post("/devices", CHUNKED, body=chunked(HUGE_DEVICE)),
    post("/patchbay-points", "Content-Length: 5", "Content-Length: 14", body=POINT),
    http("PUT", f"/ports/{LINKED}/patchbay", JSON, body=b'{"patchbay_id": 1e400}'),
    get("/state", b"X-Junk: a\x00b"),
    parts(request("POST", "/devices", JSON, "Content-Length: 400", body=DEVICE), SHUT),
    delete(f"/ports/{LINKED}%00"),
]


def test_fifty_bad_requests_in_parallel(main_server: Target, studio: Studio, tally: Tally) -> None:
    studio.seed()
    main_server.new_log()
    before = studio.snapshot()

    def send(build: Builder) -> list[Reply | None]:
        return exchange(main_server.address, build(main_server.host), replies=1)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(send, [BAD_REQUESTS[n % len(BAD_REQUESTS)] for n in range(50)]))
    for replies in results:
        tally.record(replies)
        assert refused(replies), replies
    assert_healthy(main_server)
    assert studio.snapshot() == before
    with httpx.Client(base_url=main_server.url, timeout=5) as api:
        assert api.get("/state").status_code == 200
        assert api.post("/ports/dev-1-port-2/link", json={"patchbay_id": 4}).status_code == 200


def read_event(stream: BinaryIO) -> dict[str, str]:
    """The fields of the next event with data, from a chunked event stream (chunk sizes and
    comments are no fields)."""
    fields: dict[str, str] = {}
    while True:
        line = stream.readline(MAX_LINE)
        assert line, "the stream ended"
        text = line.decode().rstrip("\r\n")
        if not text and "data" in fields:
            return fields
        name, colon, value = text.partition(":")
        if colon and name:
            fields[name] = value.strip()


@pytest.mark.parametrize("payload", ["x", "", "-1", "99999999999999999999", "{", "7" * 7000])
def test_a_stray_notify_then_a_real_change_reaches_a_stream(
    payload: str, events_server: Target, studio: Studio, tally: Tally
) -> None:
    studio.seed()
    events_server.new_log()
    sock = socket.create_connection(events_server.address, timeout=READ_TIMEOUT)
    try:
        sock.sendall(request("GET", "/events")(events_server.host))
        stream = sock.makefile("rb")
        head = _read_head(stream)
        assert head is not None and head[0] == 200
        tally.record([Reply(*head, b"")])
        # Up to the seed's revision (the listener may announce the one before it first).
        while read_event(stream)["id"] != str(studio.revision()):
            pass
        studio.conn.execute("SELECT pg_notify('pepper_state', %s)", (payload,))
        studio.conn.execute("INSERT INTO patchbay_points (name) VALUES ('after the notify')")
        event = read_event(stream)
        assert event["event"] == "state"
        assert event["id"] == str(studio.revision()), "the event names the real revision"
    finally:
        hang_up(sock)
    assert_healthy(events_server)
    stream_slots_free(events_server)


def test_one_stream_too_many_is_refused_and_the_slots_come_back(
    events_server: Target, tally: Tally
) -> None:
    opened: list[socket.socket] = []
    try:
        # The slots of the streams closed before free up at their next keep-alive.
        deadline = time.monotonic() + 5
        while len(opened) < SSE_MAX_CLIENTS:
            reply, sock = open_stream(events_server.address, EVENTS(events_server.host), b"retry:")
            if reply is not None and reply.status == 200:
                opened.append(sock)
                continue
            hang_up(sock)
            assert reply is not None and reply.status == 503 and time.monotonic() < deadline
            time.sleep(0.1)
        refusal, sock = open_stream(events_server.address, EVENTS(events_server.host), b"retry:")
        opened.append(sock)
        tally.record([refusal])
        assert refusal is not None and refusal.status == 503
        assert refusal.json() == {"detail": "Too many open event streams"}
        assert "retry-after" in refusal.headers
    finally:
        for sock in opened:
            hang_up(sock)
    assert_healthy(events_server)
    stream_slots_free(events_server)


def test_streams_reset_all_at_once_free_their_slots(events_server: Target, tally: Tally) -> None:
    socks = [
        socket.create_connection(events_server.address, timeout=READ_TIMEOUT) for _ in range(20)
    ]
    for sock in socks:
        sock.sendall(request("GET", "/events")(events_server.host))
    for sock in socks:
        _send(sock, [RESET])
    tally.record([None] * len(socks))
    assert_healthy(events_server)
    stream_slots_free(events_server)
