"""The optional API key: off unless API_KEY is set."""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from app.core.errors import Unauthorized

# Declared in OpenAPI, so Swagger UI's Authorize button can send it.
api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Required when the server runs with API_KEY set.",
)


async def require_api_key(
    request: Request, given: Annotated[str | None, Depends(api_key_header)]
) -> None:
    expected = request.app.state.settings.api_key
    if expected is None:
        return
    # Constant-time comparison, so response timing does not reveal how much of a guess was right.
    if given is None or not hmac.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    ):
        raise Unauthorized("Missing or invalid API key")
