"""The optional API key, as OpenAPI declares it. `api/middleware.Guard` enforces it, before any
body is read; the routers that need no key are listed once, in `app/main.py`."""

from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader

# Declared in OpenAPI, so Swagger UI's Authorize button can send it.
api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Required when the server runs with API_KEY or API_KEYS set.",
)


async def declare_api_key(given: Annotated[str | None, Depends(api_key_header)]) -> None:
    """Only declares the key for OpenAPI; the Guard middleware has checked it already."""
