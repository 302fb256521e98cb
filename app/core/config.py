from functools import lru_cache
from typing import Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


class Settings(BaseSettings):
    """Configuration read from the environment or a `.env` file."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = ""
    cors_origins: list[str] = []
    # Worker threads that run sync endpoints; the connection pool is sized from it so that
    # load queues for a thread instead of failing for want of a connection.
    threadpool_size: int = 20
    db_pool_timeout: float = 5.0
    db_connect_timeout: int = 3
    # When set, every endpoint but /health, /ready and the docs needs `X-API-Key: <key>`.
    api_key: SecretStr | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Server-sent events (GET /events): open streams allowed per process, keep-alive interval.
    sse_max_clients: int = 200
    sse_keepalive_seconds: float = 15.0

    @property
    def libpq_url(self) -> str:
        """DATABASE_URL as libpq (and so psycopg) reads it, without SQLAlchemy's driver name."""
        url = make_url(self.database_url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    @field_validator("api_key")
    @classmethod
    def _empty_key_means_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value and value.get_secret_value() else None

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
    return Settings()
