"""Swagger UI and ReDoc served from the app itself: the docs work in a studio with no internet.

The assets (Swagger UI 5, ReDoc 2) come from the pinned `fastapi-offline` package.
"""

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

TITLE = "Pepper"
OPENAPI_URL = "/openapi.json"
ASSETS_URL = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"

# ReDoc 2 shows the logo of its makers, fetched from their CDN whatever its options say: the
# bundle is served with that address replaced by a local picture.
REDOC_BUNDLE = "redoc.standalone.js"
_REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
_LOCAL_LOGO = (ASSETS_URL + "/favicon.png").encode()
# The pages may only load from this server.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'self'"
)

router = APIRouter(include_in_schema=False)


def _self_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return _self_only(
        get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=f"{TITLE} - Swagger UI",
            oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )
    )


@router.get(OAUTH2_REDIRECT_URL)
def swagger_ui_redirect() -> HTMLResponse:
    return _self_only(get_swagger_ui_oauth2_redirect_html())


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return _self_only(
        get_redoc_html(
            openapi_url=OPENAPI_URL,
            title=f"{TITLE} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/{REDOC_BUNDLE}",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
    )


@cache
def _redoc_bundle() -> bytes:
    bundle = (ASSETS_DIR / REDOC_BUNDLE).read_bytes()
    assert bundle.count(_REDOC_LOGO) == 1, "the pinned ReDoc names its logo's address once"
    return bundle.replace(_REDOC_LOGO, _LOCAL_LOGO)


@router.get(f"{ASSETS_URL}/{REDOC_BUNDLE}")
def redoc_bundle() -> Response:
    """ReDoc, without the address of its makers' CDN (before the mount of the other assets)."""
    headers = {"Cache-Control": "public, max-age=3600"}
    return Response(_redoc_bundle(), media_type="text/javascript", headers=headers)


def mount_assets(app: FastAPI) -> None:
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
