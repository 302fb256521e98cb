"""The ASGI middleware, in the order a request passes it (see `install`):

1. `RequestLog`: a request id (`X-Request-ID`), `X-Content-Type-Options: nosniff` and one
   access line per request, control characters escaped.
2. CORS (Starlette's), when `CORS_ORIGINS` is set, so even refusals below carry its headers.
3. `Guard`, before anything reads the body: the Host header (400), cross-site writes (403), the
   API key (401), the body size counted on the bytes actually received (413); and a 500 with
   the request id for anything no handler took.
"""

import hmac
import ipaddress
import logging
import socket
import time
import uuid
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.errors import (
    BODY_TOO_LARGE,
    CROSS_SITE,
    HOST_NOT_ALLOWED,
    UNAUTHORIZED,
    error_response,
    internal_error,
)
from app.core.logging import actor_var, escape_controls, request_id_var

REQUEST_ID_HEADER = "X-Request-ID"
MAX_BODY_BYTES = 1024 * 1024

access_logger = logging.getLogger("pepper.access")

# A client's id is kept if it is short and plain (no spaces, quotes or control characters that
# could forge log lines or headers).
_SANE_ID = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Names that only resolve inside a LAN, so no outside web site can point them at the studio's
# machine (DNS rebinding needs a public name): mDNS names like raspberrypi.local and the like.
_LAN_SUFFIXES = (".local", ".lan", ".home.arpa", ".internal", ".localdomain", ".localhost")


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
    ) -> None:
        self.app = app
        self.keys = {key.encode(): name for key, name in settings.named_keys.items()}
        self.public_paths = frozenset(public_paths)
        self.public_prefixes = public_prefixes
        self.query_key_paths = frozenset(query_key_paths)
        self.body_limits = dict(body_limits)
        self.cors_origins = frozenset(settings.cors_origins)
        self.host_allowed = _host_rule(settings.allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1").lower()
        refusal = self._refusal(scope, headers, host)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        limit = self.body_limits.get(scope["path"], MAX_BODY_BYTES)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await error_response(413, BODY_TOO_LARGE, {"Connection": "close"})(scope, receive, send)
            return
        await self._call(scope, _counting(receive, limit), send)

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes], host: str) -> Any:
        if host and not self.host_allowed(host):
            return error_response(400, HOST_NOT_ALLOWED)
        if scope["method"] in _UNSAFE_METHODS and not self._same_site(headers, host):
            return error_response(403, CROSS_SITE)
        if self.keys and not self._is_public(scope["path"]):
            given = headers.get(b"x-api-key")
            if given is None and scope["path"] in self.query_key_paths:
                query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
                given = next((v.encode("latin-1") for k, v in query if k == "api_key"), None)
            known, actor = self._key(given or b"")
            if not known:
                return error_response(401, UNAUTHORIZED)
            actor_var.set(actor)
        return None

    def _key(self, given: bytes) -> tuple[bool, str | None]:
        """Is `given` a key, and whose (None for the unnamed API_KEY)?"""
        known, actor = False, None
        for key, name in self.keys.items():
            # Constant time, and every key compared: timing tells nothing of how close a guess was.
            if hmac.compare_digest(given, key):
                known, actor = True, name
        return known, actor

    def _is_public(self, path: str) -> bool:
        return path in self.public_paths or path.startswith(self.public_prefixes)

    def _same_site(self, headers: dict[bytes, bytes], host: str) -> bool:
        """A write from a browser page is refused unless the page is this server's own or one
        of CORS_ORIGINS. Clients that are not browsers send no Origin and pass."""
        origin = headers.get(b"origin")
        if origin is None:
            return headers.get(b"sec-fetch-site") != b"cross-site"
        text = origin.decode("latin-1")
        return text in self.cors_origins or _authority(text) == _strip_default_port(host, text)

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            # Starlette would answer it in its outermost layer, without the request id and CORS.
            if started:
                raise
            await internal_error(Request(scope), exc)(scope, receive, send)


def _counting(receive: Receive, limit: int) -> Receive:
    """`receive`, refusing a body once more than `limit` bytes of it have arrived, whatever the
    headers said (chunked in any spelling, or no length at all)."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            # FastAPI passes an HTTPException from reading the body on to its handler.
            raise HTTPException(413, BODY_TOO_LARGE)
        return message

    return counted


def _authority(origin: str) -> str | None:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return _strip_default_port(parts.netloc.lower(), origin)


def _strip_default_port(netloc: str, origin: str) -> str:
    default = ":443" if origin.startswith("https:") else ":80"
    return netloc.removesuffix(default)


def _host_name(host: str) -> str:
    """The name or address in a Host header, without its port or an IPv6 address's brackets."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    name, colon, _ = host.rpartition(":")
    return (name if colon else host).rstrip(".")


def _host_rule(allowed: list[str]) -> Any:
    machine = socket.gethostname().lower()
    names = {"localhost", machine, machine.split(".")[0], *allowed}
    suffixes = _LAN_SUFFIXES + tuple(name[1:] for name in allowed if name.startswith("*."))

    @lru_cache(maxsize=256)
    def host_allowed(host: str) -> bool:
        """May a browser reach this machine under this Host header (port included)?"""
        name = _host_name(host)
        if name in names or "." not in name or name.endswith(suffixes):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    return host_allowed


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
    for middleware, options in reversed(stack):
        app.add_middleware(middleware, **options)
