"""docker compose as the tests see it, without a Docker engine: the compose file evaluated the way
`docker compose` interpolates it, and the `.env` of a studio that runs the earlier service."""

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

# The entrypoint finds alembic and uvicorn on PATH, as in the image: put this Python's first.
WITH_TOOLS = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

# The .env of a studio that runs the earlier service today: its keys, with values of its own.
EARLIER_ENV = """\
POSTGRES_USER=studio
POSTGRES_PASSWORD=Wired-Since-2019
POSTGRES_DB=patchbay
PGADMIN_DEFAULT_EMAIL=engineer@example.com
PGADMIN_DEFAULT_PASSWORD=Pg-Admin-Secret
CORS_ORIGINS=["http://studio-pi.local:8080"]
DATABASE_URL=postgresql+psycopg://studio:Wired-Since-2019@db:5432/patchbay
"""

# Pepper's settings that compose passes to the API, each with a default.
SETTINGS = (
    "CORS_ORIGINS",
    "ALLOWED_HOSTS",
    "API_KEY",
    "API_KEYS",
    "LOG_FORMAT",
    "LOG_LEVEL",
    "DB_POOL_SIZE",
    "DB_POOL_TIMEOUT",
    "DB_CONNECT_TIMEOUT",
    "DB_LOCK_TIMEOUT",
    "DB_STATEMENT_TIMEOUT",
    "DB_IDLE_IN_TRANSACTION_TIMEOUT",
    "SSE_MAX_CLIENTS",
    "SSE_KEEPALIVE_SECONDS",
    "HISTORY_RETENTION_DAYS",
    "GRACEFUL_SHUTDOWN_SECONDS",
)


# --- docker compose's variable interpolation ----------------------------------------------


class MissingVariable(Exception):
    """`${VAR:?message}` (or `${VAR?message}`) with VAR missing: compose stops with the message."""


NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
OPERATORS = (":-", "-", ":?", "?", ":+", "+")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """`text` with `$$`, `$VAR`, `${VAR}` and `${VAR<op>argument}` replaced, nested ones too."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            out.append(_substitute(text[i + 2 : end], env))
            i = end + 1
        elif text[i] == "$" and (name := NAME.match(text, i + 1)):
            out.append(env.get(name.group(), ""))
            i = name.end()
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unclosed ${{ in {text!r}")


def _substitute(expression: str, env: Mapping[str, str]) -> str:
    name = NAME.match(expression)
    assert name, f"not a variable: ${{{expression}}}"
    value, rest = env.get(name.group()), expression[name.end() :]
    if not rest:
        return value or ""
    operator = next(op for op in OPERATORS if rest.startswith(op))
    argument = rest[len(operator) :]
    # With a colon, an empty value counts as missing.
    if value is None or (operator.startswith(":") and value == ""):
        if operator.endswith("?"):
            raise MissingVariable(interpolate(argument, env))
        return "" if operator.endswith("+") else interpolate(argument, env)
    return interpolate(argument, env) if operator.endswith("+") else value


def evaluate(node: Any, env: Mapping[str, str]) -> Any:
    """The compose document with every string value interpolated."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [evaluate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: evaluate(value, env) for key, value in node.items()}
    return node


def parse_env(text: str) -> dict[str, str]:
    """A .env file as compose reads it (KEY=VALUE lines, comments, optional quotes)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def compose_file() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose


def compose_with(env: Mapping[str, str]) -> dict[str, Any]:
    compose: dict[str, Any] = evaluate(compose_file(), env)
    return compose


def earlier_env(**changes: str) -> dict[str, str]:
    return {**parse_env(EARLIER_ENV), **changes}


def api_environment(**env: str) -> dict[str, str]:
    """The API's environment with nothing but the required .env keys and `env` set."""
    required = {
        "POSTGRES_PASSWORD": "x",
        "PGADMIN_DEFAULT_EMAIL": "pgadmin@example.com",
        "PGADMIN_DEFAULT_PASSWORD": "y",
    }
    api: dict[str, str] = compose_with({**required, **env})["services"]["api"]["environment"]
    return api
