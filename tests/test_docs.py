"""The API documents itself (every operation with summary, description, tags, examples and
errors), and the docs work in a studio with no internet: Swagger UI 5 and ReDoc 2 come from
the app itself.

The pages are read as HTML first: every URL they name must be the app's own, and must be served.
Then a headless Chromium, cut off from every host but 127.0.0.1, loads them from a live server:
the operations it renders prove the JavaScript ran from local assets, and its network log shows
that the page asked no other host for anything (a blocked request would fail silently otherwise).
"""

import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

CHROMIUM = Path("/usr/bin/chromium")
PAGES = ["/docs", "/redoc", "/docs/oauth2-redirect"]
BASE = "http://testserver"

# Attributes that make a browser fetch (or navigate to) a URL.
URL_ATTRIBUTES = {"src", "href", "srcset", "spec-url", "action", "formaction", "poster", "data"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)""")
CSS_IMPORT = re.compile(r"""@import\s+['"]([^'"]+)""")
ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[^\s'"<>)`]+""")
# Quoted root-relative paths in inline scripts, e.g. `url: '/openapi.json'`.
SCRIPT_PATH = re.compile(r"""['"](/[A-Za-z0-9][^'"\s]*)['"]""")

# Version markers in the minified bundles: Swagger UI's build info, and the version ReDoc shows
# in its error screen.
SWAGGER_UI_VERSION = re.compile(r'PACKAGE_VERSION:"(\d+)\.(\d+)\.(\d+)"')
REDOC_VERSION = re.compile(r'ReDoc Version: "\s*,\s*"(\d+)\.(\d+)\.(\d+)"')

CONTENT_TYPES = {
    ".js": "javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


class PageUrls(HTMLParser):
    """Every URL a page names: in attributes, in CSS, in inline scripts, and bare literals."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.assets: list[str] = []  # scripts and stylesheets the page loads
        self.literals: list[str] = []  # absolute URLs written anywhere in the page
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if name == "srcset":
                self.urls += [item.split()[0] for item in value.split(",") if item.strip()]
            elif name in URL_ATTRIBUTES:
                self.urls.append(value)
            elif name == "style":
                self._css(value)
        if tag == "script" and values.get("src"):
            self.assets.append(values["src"])
        if tag == "link" and "stylesheet" in values.get("rel", "").split():
            self.assets.append(values.get("href", ""))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        self._css(data)
        if self._in_script:
            self.urls += SCRIPT_PATH.findall(data)

    def _css(self, text: str) -> None:
        self.urls += CSS_URL.findall(text) + CSS_IMPORT.findall(text)


def page_urls(html: str) -> PageUrls:
    parser = PageUrls()
    parser.feed(html)
    parser.close()
    parser.literals = ABSOLUTE_URL.findall(html)
    return parser


def is_same_origin(url: str, page_url: str) -> bool:
    resolved = urlsplit(urljoin(page_url, url))
    if resolved.scheme == "data":
        return True
    origin = urlsplit(page_url)
    return (resolved.scheme, resolved.netloc) == (origin.scheme, origin.netloc)


@pytest.mark.parametrize("path", PAGES)
def test_pages_name_no_other_host(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    found = page_urls(response.text)
    foreign = [url for url in found.urls + found.literals if not is_same_origin(url, BASE + path)]
    assert not foreign, f"{path} names other hosts: {foreign}"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_forbids_loading_from_elsewhere(client: TestClient, path: str) -> None:
    policy = client.get(path).headers["content-security-policy"]
    directives = dict(item.strip().split(" ", 1) for item in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["connect-src"] == "'self'" and directives["frame-ancestors"] == "'self'"
    assert "http" not in policy and "*" not in policy


@pytest.mark.parametrize("path", PAGES)
def test_every_url_the_pages_name_is_served(client: TestClient, path: str) -> None:
    found = page_urls(client.get(path).text)
    for url in found.urls:
        target = urlsplit(urljoin(BASE + path, url))
        if target.scheme == "data" or not target.path or target.path == path:
            continue
        response = client.get(target.path)
        assert response.status_code == 200, (path, url)
        expected = CONTENT_TYPES.get(Path(target.path).suffix, "text/html")
        assert expected in response.headers["content-type"], (url, response.headers)


def assets_text(client: TestClient, page: str) -> str:
    assets = page_urls(client.get(page).text).assets
    assert assets, f"{page} loads no script or stylesheet"
    return "\n".join(client.get(urljoin(BASE + page, url)).text for url in assets)


def test_swagger_ui_is_version_5(client: TestClient) -> None:
    version = SWAGGER_UI_VERSION.search(assets_text(client, "/docs"))
    assert version, "no Swagger UI version marker in the assets of /docs"
    assert version.group(1) == "5", version.group(0)


def test_redoc_is_version_2(client: TestClient) -> None:
    version = REDOC_VERSION.search(assets_text(client, "/redoc"))
    assert version, "no ReDoc version marker in the assets of /redoc"
    assert version.group(1) == "2", version.group(0)


def test_stylesheets_load_nothing_from_elsewhere(client: TestClient) -> None:
    stylesheets = [url for url in page_urls(client.get("/docs").text).assets if ".css" in url]
    assert stylesheets, "/docs loads no stylesheet"
    for url in stylesheets:
        css = client.get(url).text
        assert not CSS_IMPORT.findall(css), url
        foreign = [ref for ref in CSS_URL.findall(css) if not is_same_origin(ref, BASE + url)]
        assert not foreign, (url, foreign[:5])


# --- In a browser --------------------------------------------------------------------------------


class SwaggerOperations(HTMLParser):
    """(METHOD, path, summary) of every operation block Swagger UI rendered."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[tuple[str, str, str]] = set()
        self._method = ""
        self._path = ""
        self._capturing: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        classes = values.get("class", "").split()
        if "opblock-summary-method" in classes:
            self._capturing, self._text = "method", ""
        elif "opblock-summary-path" in classes:
            self._path = values.get("data-path", "")
        elif "opblock-summary-description" in classes:
            self._capturing, self._text = "summary", ""

    def handle_data(self, data: str) -> None:
        if self._capturing:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if self._capturing == "method":
            self._method = self._text.strip()
        elif self._capturing == "summary":
            self.found.add((self._method, self._path, self._text.strip()))
        self._capturing = None


class RedocHeadings(HTMLParser):
    """(anchor, text) of every `h2` ReDoc rendered: one per tag and per operation."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self._in_h2 = False
        self._anchor = ""
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self._in_h2, self._anchor, self._text = True, "", ""
        elif tag == "a" and self._in_h2:
            self._anchor = dict(attrs).get("href") or ""

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._in_h2:
            self.found.append((self._anchor, self._text.strip()))
            self._in_h2 = False


def net_log_requests(path: Path) -> list[dict[str, Any]]:
    """The parameters of every URL request in a Chromium net log."""
    text = path.read_text()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:
        # Written as it goes; a log cut short lacks the closing brackets.
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]
        for event in log["events"]
        if event["type"] == start_job and "url" in event.get("params", {})
    ]


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    """Runs Chromium headless on a page, with every host but 127.0.0.1 unreachable.

    Host names do not resolve, and whatever gets past that is sent to a proxy on a port that
    refuses connections; only 127.0.0.1 bypasses it. Returns the rendered DOM and the requests
    the page itself made (its own origin as initiator), from Chromium's network log.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
    # Bound but not listening: connections to it are refused, and no one else can take the port.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    proxy_port = closed.getsockname()[1]
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }

    def load(url: str) -> tuple[str, list[str]]:
        net_log = tmp_path / "net-log.json"
        command = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-features=AutofillServerCommunication,OptimizationHints,MediaRouter",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--proxy-server=http://127.0.0.1:{proxy_port}",
            "--proxy-bypass-list=127.0.0.1",
            f"--log-net-log={net_log}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        requested = [
            request["url"]
            for request in net_log_requests(net_log)
            if request.get("initiator") == origin
        ]
        # Chromium's own console lines, to explain a page that did not render.
        console = "\n".join(line for line in done.stderr.splitlines() if "CONSOLE" in line)
        assert done.stdout.strip(), f"no DOM from {url}\n{console}"
        return done.stdout, requested

    yield load
    closed.close()


def assert_only_own_origin(requested: list[str], base_url: str) -> None:
    foreign = [url for url in requested if not url.startswith(base_url + "/")]
    assert not foreign, f"the page asked other hosts for: {foreign}"


def test_swagger_ui_renders_every_operation_offline(chromium: Any, live: list[str]) -> None:
    base_url = live[0]
    openapi = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    dom, requested = chromium(f"{base_url}/docs")

    rendered = SwaggerOperations()
    rendered.feed(dom)
    link = openapi["paths"]["/ports/{port_id}/link"]["post"]
    assert ("POST", "/ports/{port_id}/link", link["summary"]) in rendered.found
    expected = {(method, path, op["summary"]) for method, path, op in operations(openapi)}
    assert expected <= rendered.found, sorted(expected - rendered.found)

    assert f"{base_url}/openapi.json" in requested
    assert any(url.endswith("swagger-ui-bundle.js") for url in requested), requested
    assert_only_own_origin(requested, base_url)


def test_redoc_renders_every_operation_offline(chromium: Any, live: list[str]) -> None:
    base_url = live[0]
    openapi = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    dom, requested = chromium(f"{base_url}/redoc")

    headings = RedocHeadings()
    headings.feed(dom)
    for method, path, operation in operations(openapi):
        anchor = f"/operation/{operation['operationId']}"
        titles = {text for href, text in headings.found if href.endswith(anchor)}
        assert operation["summary"] in titles, (method, path, titles)

    assert f"{base_url}/openapi.json" in requested
    assert any(url.endswith("redoc.standalone.js") for url in requested), requested
    assert_only_own_origin(requested, base_url)


EXPECTED_TAGS = {"Health", "State", "Devices", "Ports"}


@pytest.fixture(scope="module")
def openapi(app_client: TestClient) -> dict[str, Any]:
    schema: dict[str, Any] = app_client.get("/openapi.json").json()
    return schema


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_has_a_summary_description_and_tag(openapi: dict[str, Any]) -> None:
    for method, path, operation in operations(openapi):
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)
        assert set(operation["tags"]) <= {tag["name"] for tag in openapi["tags"]}
    assert {tag["name"] for tag in openapi["tags"]} >= EXPECTED_TAGS


def test_every_request_body_has_an_example(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for method, path, operation in operations(openapi):
        if "requestBody" not in operation:
            continue
        for media_type, content in operation["requestBody"]["content"].items():
            if media_type == "application/json":
                ref = content["schema"]["$ref"]
                assert schemas[ref.rsplit("/", 1)[1]].get("examples"), (method, path)
            else:  # a document of its own kind (CSV): the example is the media type's
                assert content.get("example") or content.get("examples"), (method, path)


def test_errors_are_declared(openapi: dict[str, Any]) -> None:
    link = openapi["paths"]["/ports/{port_id}/link"]["post"]["responses"]
    assert {"200", "404", "422"} <= set(link)
    put = openapi["paths"]["/ports/{port_id}/patchbay"]["put"]["responses"]
    assert {"200", "404", "409", "422"} <= set(put)
    create = openapi["paths"]["/devices"]["post"]["responses"]
    assert {"201", "404", "409", "413", "422"} <= set(create)


def test_every_201_that_sends_location_declares_it(app_client: TestClient) -> None:
    """The 201s name what they made in `Location`, and the schema says so (all but the bulk
    creation of points, which makes many)."""
    openapi = app_client.get("/openapi.json").json()
    created = [
        (method, path, operation["responses"]["201"])
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if "201" in operation["responses"]
    ]
    assert len(created) == 7
    for method, path, response in created:
        if path == "/patchbay-points/bulk":
            assert "headers" not in response
            continue
        assert response["headers"]["Location"]["schema"] == {"type": "string"}, (method, path)
        assert response["content"]["application/json"]["schema"], (method, path)


def test_port_type_is_an_enum_in_the_schema(openapi: dict[str, Any]) -> None:
    assert openapi["components"]["schemas"]["PortType"]["enum"] == ["Input", "Output", "Other"]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_are_served(app_client: TestClient, path: str) -> None:
    response = app_client.get(path)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
