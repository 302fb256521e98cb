"""The optional API key: off unless API_KEY is set."""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import Unauthorized

UNAUTHORIZED = "Missing or invalid API key"

# Declared in OpenAPI, so Swagger UI's Authorize button can send it.
api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Required when the server runs with API_KEY set.",
)


def check_api_key(request: Request, given: str | None) -> None:
    """401 unless no key is configured or `given` is it."""
    expected = request.app.state.settings.api_key
    if expected is None:
        return
    # Constant-time comparison, so response timing does not reveal how much of a guess was right.
    if given is None or not hmac.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    ):
        raise Unauthorized(UNAUTHORIZED)


async def require_api_key(
    request: Request, given: Annotated[str | None, Depends(api_key_header)]
) -> None:
    check_api_key(request, given)


# Open to anyone; /events checks the key itself (it also takes it as a query parameter).
OPEN_PATHS = frozenset(
    {"/health", "/ready", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/events"}
)
OPEN_PREFIX = "/docs-assets/"


class RequireApiKey:
    """Refuse a request without the key before anything reads its body.

    The router dependency alone (which also declares the key in OpenAPI) runs only after FastAPI
    has parsed the body, so anyone could learn what a malformed body does.
    """

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIX):
            given = dict(scope["headers"]).get(b"x-api-key")
            if given is None or not hmac.compare_digest(given, self.key):
                response = JSONResponse({"detail": UNAUTHORIZED}, status_code=401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
