"""Settings, read from the environment or `.env`, and checked before the service starts."""

import enum
import re
import sys
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url

# A key travels in an HTTP header, which carries visible ASCII; anything else could never match
# what a client sends, and would lock everyone out.
_KEY_CHARACTERS = re.compile(r"[\x21-\x7e]{1,256}")
_KEY_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def _valid_key(value: SecretStr) -> SecretStr:
    if not _KEY_CHARACTERS.fullmatch(value.get_secret_value()):
        raise ValueError("must be 1-256 visible ASCII characters (no spaces)")
    return value


ApiKey = Annotated[SecretStr, AfterValidator(_valid_key)]


class Role(enum.StrEnum):
    """What a key may do (SPEC F), each role all that the one before it may."""

    READ = "read"  # every GET (and HEAD), and the event stream
    PATCH = "patch"  # read, and change the patch of what exists (app/api/roles.py)
    ADMIN = "admin"  # everything

    def allows(self, needed: "Role") -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


class KeyWithRole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: ApiKey
    role: Role = Role.ADMIN


def _valid_key_names(keys: dict[str, "SecretStr | KeyWithRole"]) -> dict[str, KeyWithRole]:
    for name in keys:
        if not _KEY_NAME.fullmatch(name):
            raise ValueError(f"key name {name!r} must be 1-64 of A-Z a-z 0-9 . _ @ -")
    # A plain string is an admin's key.
    with_roles = {
        name: given if isinstance(given, KeyWithRole) else KeyWithRole(key=given)
        for name, given in keys.items()
    }
    # One key, two names: the history could not tell whose change it was.
    if len({given.key.get_secret_value() for given in with_roles.values()}) < len(keys):
        raise ValueError("two names share one key: give each name its own")
    return with_roles


def _plain_origin(origin: str) -> str | None:
    """The origin as a browser sends it (`scheme://host[:port]`, lower case, no default port),
    or None for anything else: a path, a wildcard, `null`, user info, a bad port."""
    text = origin.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or "*" in text
        or "@" in parts.netloc
        or f"{parts.scheme}://{parts.netloc}".lower() != text.lower()
    ):
        return None
    scheme = parts.scheme.lower()
    host = parts.netloc.lower().rsplit(":", 1)[0] if port is not None else parts.netloc.lower()
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + ("" if port in (None, default) else f":{port}")


Seconds = Annotated[float, Field(gt=0, le=3600)]


class Settings(BaseSettings):
    """Configuration read from the environment or a `.env` file."""

    # An empty variable (compose passes `API_KEYS=` when unset) means "not set".
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    database_url: str = ""
    cors_origins: list[str] = []
    # Host names served besides localhost, IP literals, this machine's name and LAN-only names
    # (see api/middleware.py); e.g. the name a reverse proxy forwards.
    allowed_hosts: list[str] = []
    # When set, every endpoint but the health checks and the docs needs `X-API-Key`.
    api_key: ApiKey | None = None
    # Named keys: their name is recorded as the actor of the changes made with them. A key is
    # a string (an admin's) or {"key": ..., "role": "read" | "patch" | "admin"}.
    api_keys: Annotated[dict[str, ApiKey | KeyWithRole], AfterValidator(_valid_key_names)] = {}
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    db_pool_size: int = Field(10, ge=1, le=200)
    # Every wait on the database is bounded: for a connection, for a connection to open, for a
    # row lock, for a statement, and for a transaction left idle.
    db_pool_timeout: Seconds = 5.0
    db_connect_timeout: int = Field(3, ge=1, le=60)
    db_lock_timeout: Annotated[float, Field(gt=0, le=10)] = 5.0
    db_statement_timeout: Seconds = 30.0
    db_idle_in_transaction_timeout: Seconds = 60.0
    # Server-sent events (GET /events): open streams allowed per process, keep-alive interval.
    sse_max_clients: int = Field(200, ge=1, le=100_000)
    # FastAPI sends a `: ping` of its own after 15 s of silence: ours always comes first.
    sse_keepalive_seconds: float = Field(10.0, gt=0, le=14)
    history_retention_days: int = Field(90, ge=1, le=36_500)

    @property
    def libpq_url(self) -> str:
        """DATABASE_URL as libpq (and so psycopg) reads it, without SQLAlchemy's driver name."""
        url = make_url(self.database_url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    @property
    def named_keys(self) -> dict[str, tuple[str | None, Role]]:
        """Every accepted key, with the actor it stands for (None for the unnamed API_KEY,
        an admin's) and its role."""
        keys: dict[str, tuple[str | None, Role]] = {}
        for name, given in self.api_keys.items():
            assert isinstance(given, KeyWithRole), "made so by _valid_key_names"
            keys[given.key.get_secret_value()] = (name, given.role)
        if self.api_key is not None:
            keys.setdefault(self.api_key.get_secret_value(), (None, Role.ADMIN))
        return keys

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_means_none(cls, value: object) -> object:
        return value or None

    @field_validator("cors_origins")
    @classmethod
    def _plain_origins(cls, origins: list[str]) -> list[str]:
        # Credentials are allowed for these origins, and the browser sends an origin as
        # scheme://host[:port] exactly: anything else (a path, "*", "null") would either never
        # match or, for "*", let every web site call the API with the studio's cookies and keys.
        normalised = []
        for origin in origins:
            plain = _plain_origin(origin)
            if plain is None:
                raise ValueError(
                    f"{origin[:60]!r} is not an origin: list the browser app's origins one by "
                    'one as scheme://host[:port] (no "*", no path)'
                )
            normalised.append(plain)
        return normalised

    @field_validator("allowed_hosts")
    @classmethod
    def _lower_case_hosts(cls, hosts: list[str]) -> list[str]:
        return [host.strip().lower() for host in hosts if host.strip()]

    @field_validator("database_url")
    @classmethod
    def _use_psycopg3(cls, value: str) -> str:
        # Compose and most tools write plain postgresql:// URLs; SQLAlchemy needs the driver named.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value.removeprefix(prefix)
        return value


@lru_cache
def get_settings() -> Settings:
    """The settings, or exit with a message naming each bad one."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_input=False)
        )
    except SettingsError as exc:  # a value that is not the JSON its setting needs
        problems = re.sub(r'field "(\w+)".*', lambda m: f"{m[1].upper()}: not valid JSON", str(exc))
    print(f"pepper: invalid settings: {problems}", file=sys.stderr)
    raise SystemExit(2)
