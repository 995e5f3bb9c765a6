"""The web dashboard's shell: served from package files, open without a token, strict headers, no CDN."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from starlette.testclient import TestClient

from tests.api.test_dashboard import NOW_MS

WEB = Path(__file__).resolve().parents[2] / "aegis_stream" / "web"
# absolute URLs, and protocol-relative ones (//host.tld/...)
URL = re.compile(r"""https?://[^\s"'`()<>]+|(?<![:\w/])//[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+""")
# the only URL-shaped strings allowed: XML namespace names, which nothing fetches
NAMESPACES = {"http://www.w3.org/2000/svg"}
TEXT_FILES = {".html", ".js", ".css", ".svg"}


def web_files() -> list[Path]:
    return sorted(p for p in WEB.rglob("*") if p.is_file())


def test_the_page_is_open_without_a_token_and_the_api_is_not(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS, api_token="s3cret")
    for path in ("/", "/dashboard"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert page.content == (WEB / "index.html").read_bytes()
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/api/v1/dashboard/overview").status_code == 401
    assert client.get("/metrics").status_code == 401  # unchanged: only the page's shell is open
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/health").status_code == 200


def test_every_response_of_the_shell_has_strict_headers(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    for path in ("/", "/dashboard", "/static/app.js", "/static/app.css", "/static/js/pages/audit.js"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-cache"
    assert "javascript" in client.get("/static/app.js").headers["content-type"]
    assert client.get("/static/app.css").headers["content-type"].startswith("text/css")


def test_static_files_revalidate_cheaply(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    first = client.get("/static/app.js")
    again = client.get("/static/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_nothing_outside_the_web_folder_is_served(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    assert client.get("/static/nope.js").status_code == 404
    for path in (
        "/static/../data/openapi.yaml",
        "/static/%2e%2e/data/openapi.yaml",
        "/static/..%2fapi/app.py",
    ):
        assert client.get(path).status_code == 404, path


def test_a_token_in_the_query_works_for_the_stream_only(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS, api_token="s3cret")
    assert client.get("/api/v1/dashboard/overview?token=s3cret").status_code == 401
    assert client.head("/api/v1/stream?token=wrong").status_code == 401
    head = client.head("/api/v1/stream?token=s3cret")
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/event-stream")
    assert client.head("/api/v1/stream", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_a_non_ascii_token_works_in_the_query(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS, api_token="pässwörd")
    assert client.head("/api/v1/stream?token=p%C3%A4ssw%C3%B6rd").status_code == 200  # encodeURIComponent
    assert client.head("/api/v1/stream?token=p%E4ssw%F6rd").status_code == 401  # latin-1 is not it


def test_no_external_url_in_any_served_file(serve: Callable[..., TestClient]) -> None:
    client = serve([], now_ms=NOW_MS)
    files = web_files()
    assert {p.suffix for p in files} <= TEXT_FILES, "a binary asset needs its own check"
    found: dict[str, set[str]] = {}
    for path in files:
        served = client.get(f"/static/{path.relative_to(WEB).as_posix()}")
        assert served.status_code == 200, path
        urls = set(URL.findall(served.text)) - NAMESPACES
        if urls:
            found[path.name] = urls
    assert found == {}


class _Shell(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self.labels: set[str] = set()
        self.inputs: list[dict[str, str | None]] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.inline += [name for name, _ in attrs if name.startswith("on") or name == "style"]
        if tag == "script":
            self.scripts.append(found)
            self._in_script = True
        if tag == "label" and found.get("for"):
            self.labels.add(str(found["for"]))
        if tag in ("input", "select", "textarea"):
            self.inputs.append(found)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline script")


def test_the_shell_has_no_inline_code_and_labels_its_inputs() -> None:
    shell = _Shell()
    shell.feed((WEB / "index.html").read_text())
    assert shell.scripts == [{"type": "module", "src": "static/app.js"}]
    assert shell.inline == []
    visible = [i for i in shell.inputs if "hidden" not in i]
    assert visible and all(i.get("id") in shell.labels for i in visible)


def test_every_module_import_resolves() -> None:
    imports = re.compile(r"""^import .* from "(\.[^"]+)";$""", re.MULTILINE)
    for path in WEB.rglob("*.js"):
        for target in imports.findall(path.read_text()):
            assert (path.parent / target).resolve().is_file(), (path.name, target)


def test_no_html_sink_in_the_scripts() -> None:
    """Text goes in as text: the CSP's Trusted Types would make an HTML sink throw anyway."""
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function")
    for path in WEB.rglob("*.js"):
        assert not sinks.search(path.read_text()), path.name
