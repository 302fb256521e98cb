"""Which `Host` and `Origin` headers name this server (the Guard middleware's rules against
DNS rebinding and cross-site writes)."""

import ipaddress
import logging
import socket
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from app.core.logging import escape_controls

logger = logging.getLogger("pepper")
# Refused Host names are logged, the first this many of each process (a client could send any).
MAX_HOSTS_LOGGED = 20
# Names that only resolve inside a LAN, so no outside web site can point them at the studio's
# machine (DNS rebinding needs a public name): mDNS names like raspberrypi.local and the like.
_LAN_SUFFIXES = (".local", ".lan", ".home.arpa", ".internal", ".localdomain", ".localhost")


def authority(origin: str) -> str | None:
    """`host[:port]` of an Origin, or None for one that names no web origin (`null`, junk)."""
    try:
        parts = urlsplit(origin)
    except ValueError:  # e.g. "http://[evil": a foreign origin like any other
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return strip_default_port(parts.netloc.lower(), origin)


def strip_default_port(netloc: str, origin: str) -> str:
    default = ":443" if origin.startswith("https:") else ":80"
    return netloc.removesuffix(default)


def _host_name(host: str) -> str:
    """The name or address in a Host header, without its port or an IPv6 address's brackets."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    name, colon, _ = host.rpartition(":")
    return (name if colon else host).rstrip(".")


def host_rule(allowed: list[str], cors_origins: list[str]) -> Any:
    machine = socket.gethostname().lower()
    # The browser app's origins name hosts the studio already trusts (often this machine, under
    # the name the LAN's router gives it, which the container's own host name is not).
    origin_hosts = {(urlsplit(origin).hostname or "").lower() for origin in cors_origins}
    names = {"localhost", machine, machine.split(".")[0], *allowed, *origin_hosts}
    suffixes = _LAN_SUFFIXES + tuple(name[1:] for name in allowed if name.startswith("*."))
    logged: set[str] = set()

    @lru_cache(maxsize=256)
    def host_allowed(host: str) -> bool:
        """May a browser reach this machine under this Host header (port included)?"""
        name = _host_name(host)
        if name in names or "." not in name or name.endswith(suffixes):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            if len(logged) < MAX_HOSTS_LOGGED and name not in logged:
                logged.add(name)
                logger.warning(
                    "refused Host '%s': if it names this server, add it to ALLOWED_HOSTS",
                    escape_controls(name[:100]),
                )
            return False
        return True

    return host_allowed
