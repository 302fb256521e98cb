"""The ASGI middleware, in the order a request passes it (see `install`):

1. `RequestLog`: a request id (`X-Request-ID`), `X-Content-Type-Options: nosniff` and one
   access line per request, control characters escaped.
2. CORS (Starlette's), when `CORS_ORIGINS` is set, so even refusals below carry its headers.
3. `Guard`, before anything reads the body: the Host header (400), cross-site writes (403), the
   API key (401), the key's role (403, app/api/roles.py), a body that is not JSON (415), the
   body size counted on the bytes actually received (413), a slot for a write (503); and a
   500 with the request id for anything no handler took.
4. `HeadAsGet`: a HEAD is answered as its GET would be, without the body.
"""

import asyncio
import hmac
import logging
import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute, RouteContext
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.hosts import authority, host_rule, strip_default_port
from app.api.roles import needed, role_var
from app.core.config import Role, Settings
from app.core.errors import (
    BODY_TOO_LARGE,
    BODY_TOO_SLOW,
    CROSS_SITE,
    HOST_NOT_ALLOWED,
    KEY_MAY_NOT,
    NOT_JSON,
    POOL_BUSY,
    UNAUTHORIZED,
    error_response,
    internal_error,
)
from app.core.logging import actor_var, escape_controls, request_id_var

REQUEST_ID_HEADER = "X-Request-ID"
MAX_BODY_BYTES = 1024 * 1024
# A refused body is read and dropped up to this much, so that the client reads the refusal.
DRAIN_BYTES = 16 * MAX_BODY_BYTES
# A client that has started a body and then sends nothing for this long gets a 408.
BODY_IDLE_SECONDS = 5.0

access_logger = logging.getLogger("pepper.access")
logger = logging.getLogger("pepper")

# A client's id is kept if it is short and plain (no spaces, quotes or control characters that
# could forge log lines or headers).
_SANE_ID = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _request_id(given: bytes | None) -> str:
    if given and len(given) <= 128 and _SANE_ID.issuperset(given):
        return given.decode()
    return uuid.uuid4().hex


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == b"x-request-id"), None)
        request_id = _request_id(given)
        added = [(b"x-request-id", request_id.encode()), (b"x-content-type-options", b"nosniff")]
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            if access_logger.isEnabledFor(logging.INFO):
                _log_access(scope, status, request_id, started)


def _log_access(scope: Scope, status: int, request_id: str, started: float) -> None:
    elapsed_ms = (time.perf_counter() - started) * 1000
    method, path = escape_controls(scope["method"]), escape_controls(scope["path"])
    fields = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(elapsed_ms, 1),
        "client": (scope.get("client") or ("-",))[0],
    }
    access_logger.info(
        "%s %s %d %.1fms",
        method,
        path,
        status,
        elapsed_ms,
        extra={"fields": fields, "request_id": request_id},
    )


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        public_paths: Collection[str],
        public_prefixes: tuple[str, ...],
        query_key_paths: Collection[str],
        body_limits: Mapping[str, int],
        routes: list[RouteContext],
    ) -> None:
        self.app = app
        # Each route with what `_operation` answers for it, worked out once.
        self.routes = [(c, c.path_format or "", _takes_json(c.original_route)) for c in routes]
        self.keys = {key.encode(): known for key, known in settings.named_keys.items()}
        self.public_paths = frozenset(public_paths)
        self.public_prefixes = public_prefixes
        self.query_key_paths = frozenset(query_key_paths)
        self.body_limits = dict(body_limits)
        self.cors_origins = frozenset(settings.cors_origins)
        self.host_allowed = host_rule(settings.allowed_hosts, settings.cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._guard(scope, receive, tracking_send)
        except Exception as exc:
            # Starlette would answer it in its outermost layer, without the request id and CORS.
            if started:
                raise
            await internal_error(Request(scope), exc)(scope, receive, send)

    async def _guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        limit = self.body_limits.get(scope["path"], MAX_BODY_BYTES)
        declared = headers.get(b"content-length")
        has_body = declared not in (None, b"0") or b"transfer-encoding" in headers
        if has_body and not _is_json(headers.get(b"content-type")) and self._operation(scope)[1]:
            await _refuse_body(415, NOT_JSON, receive, scope, send)
            return
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse_body(413, BODY_TOO_LARGE, receive, scope, send)
            return
        if has_body:
            # The whole body is read here, counted as it arrives whatever the headers said, and
            # handed to the app from memory: an endpoint that reads no body cannot be sent a
            # large one either.
            try:
                body = await _read_body(receive, limit)
            except TimeoutError:
                await _refuse_body(408, BODY_TOO_SLOW, receive, scope, send)
                return
            if body is None:
                await _refuse_body(413, BODY_TOO_LARGE, receive, scope, send)
                return
            receive = _replay(body, receive)
        if scope["method"] not in _UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        # A write waits here, taking no worker thread and no connection, until one of the
        # connections writes may take is free (app/db/session.py).
        database = scope["app"].state.database
        if not await database.take_write_slot():
            await error_response(503, POOL_BUSY)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            database.give_back_write_slot()

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> Any:
        hosts = [value for name, value in scope["headers"] if name == b"host"]
        host = hosts[0].decode("latin-1").lower() if hosts else ""
        # Exactly one Host, naming this machine (with two, a check could read one and a proxy
        # the other).
        if len(hosts) != 1 or not self.host_allowed(host):
            return error_response(400, HOST_NOT_ALLOWED)
        if scope["method"] in _UNSAFE_METHODS and not self._same_site(headers, host):
            return error_response(403, CROSS_SITE)
        if self.keys and not self._is_public(scope["path"]):
            given = headers.get(b"x-api-key")
            if given is None and scope["path"] in self.query_key_paths:
                # Decoded byte for byte, as the header is: a key is ASCII, anything else fails.
                raw = scope.get("query_string", b"").decode("latin-1")
                query = parse_qsl(raw, encoding="latin-1", errors="replace")
                given = next((v.encode("latin-1") for k, v in query if k == "api_key"), None)
            known = self._key(given or b"")
            if known is None:
                return error_response(401, UNAUTHORIZED)
            actor, role = known
            actor_var.set(actor)
            role_var.set(role)
            if role is not Role.ADMIN and scope["method"] in _UNSAFE_METHODS:
                wanted = needed(scope["method"], self._operation(scope)[0])
                if not role.allows(wanted):
                    logger.warning(
                        "key %s (%s) may not %s %s",
                        actor,
                        role.value,
                        scope["method"],
                        escape_controls(scope["path"]),
                    )
                    return error_response(403, KEY_MAY_NOT)
        return None

    def _key(self, given: bytes) -> tuple[str | None, Role] | None:
        """Whose key `given` is (None for the unnamed API_KEY) and its role; None if it is
        not one."""
        found = None
        for key, known in self.keys.items():
            # Constant time, and every key compared: timing tells nothing of how close a guess was.
            if hmac.compare_digest(given, key):
                found = known
        return found

    def _operation(self, scope: Scope) -> tuple[str, bool]:
        """The operation that will answer this request: its path as declared
        (`/ports/{port_id}/link`; "" for none), and whether it takes a JSON body."""
        for context, path, takes_json in self.routes:
            if context.matches(scope)[0] == Match.FULL:
                return path, takes_json
        return "", False

    def _is_public(self, path: str) -> bool:
        return path in self.public_paths or path.startswith(self.public_prefixes)

    def _same_site(self, headers: dict[bytes, bytes], host: str) -> bool:
        """A write from a browser page is refused unless the page is this server's own or one
        of CORS_ORIGINS. Clients that are not browsers send no Origin and pass."""
        origin = headers.get(b"origin")
        if origin is None:
            return headers.get(b"sec-fetch-site") != b"cross-site"
        text = origin.decode("latin-1")
        return text in self.cors_origins or authority(text) == strip_default_port(host, text)


class HeadAsGet:
    """A HEAD is answered as its GET would be, status and headers alike, without the body
    (RFC 9110): `curl -I` and uptime monitors use it. Once the headers are out the request
    counts as disconnected, so that a stream (`/events`) ends at once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        answered = False

        async def headers_only(message: Message) -> None:
            nonlocal answered
            if answered:
                return
            if message["type"] == "http.response.body":
                answered = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        async def gone_once_answered() -> Message:
            return {"type": "http.disconnect"} if answered else await receive()

        await self.app({**scope, "method": "GET"}, gone_once_answered, headers_only)


def _takes_json(route: Any) -> bool:
    """A body FastAPI reads as JSON, or one the route reads itself and declares JSON (the
    import, which parses its body in its worker thread)."""
    if not isinstance(route, APIRoute):
        return False
    declared = ((route.openapi_extra or {}).get("requestBody") or {}).get("content", {})
    return route.body_field is not None or "application/json" in declared


def _is_json(content_type: bytes | None) -> bool:
    """Does a Content-Type name JSON (`application/json`, `application/*+json`)? FastAPI reads
    a body without one as bytes, which no JSON endpoint takes."""
    if content_type is None:
        return False
    media = content_type.partition(b";")[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


async def _read_body(receive: Receive, limit: int) -> list[Message] | None:
    """The request's body messages, or None once more than `limit` bytes have arrived. Raises
    TimeoutError when the client sends nothing for BODY_IDLE_SECONDS."""
    messages: list[Message] = []
    received = 0
    while True:
        async with asyncio.timeout(BODY_IDLE_SECONDS):
            message = await receive()
        messages.append(message)
        received += len(message.get("body", b""))
        if received > limit:
            return None
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


async def _refuse_body(
    status: int, detail: str, receive: Receive, scope: Scope, send: Send
) -> None:
    """Refuse a request whose body will not be read. What the client is still sending is read
    and dropped, up to DRAIN_BYTES, so that it gets the answer (closing on unread bytes can
    reset the connection before the answer arrives) and can go on with its next request."""
    drained = 0
    try:
        while drained <= DRAIN_BYTES and status != 408:
            async with asyncio.timeout(BODY_IDLE_SECONDS):
                message = await receive()
            drained += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                await error_response(status, detail)(scope, receive, send)
                return
    except TimeoutError:
        pass
    await error_response(status, detail, {"Connection": "close"})(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """`receive` that hands out `messages` first (then waits for the disconnect as usual)."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def install(app: FastAPI, settings: Settings, **guard: Any) -> None:
    """Add the middleware, listed here outermost first (Starlette wants them innermost first)."""
    stack: list[tuple[type, dict[str, Any]]] = [(RequestLog, {})]
    if settings.cors_origins:
        cors = {
            "allow_origins": settings.cors_origins,
            "allow_credentials": True,
            "allow_methods": ["*"],
            "allow_headers": ["*"],
            "expose_headers": [REQUEST_ID_HEADER, "ETag", "Location", "Retry-After"],
        }
        stack.append((CORSMiddleware, cors))
    stack.append((Guard, {"settings": settings, **guard}))
    stack.append((HeadAsGet, {}))
    for middleware, options in reversed(stack):
        app.add_middleware(middleware, **options)
