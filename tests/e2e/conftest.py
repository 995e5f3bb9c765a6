"""End-to-end fixtures: the real product (``aegis-stream up --demo``) and Debian's headless Chromium.

The product runs as its own process, as a user starts it, on a free port
with a key prefix of its own on the test server, the bundled real sample
imported and its projector running (the live feed needs one). The browser is
the system's ``/usr/bin/chromium`` (``.ci/run`` installs it); without it these
tests fail, they do not skip.

Fixtures live as long as this package's tests, not the session: Playwright's
sync API marks an event loop as running while it is open, which would break
every later test that calls ``asyncio.run``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright

from tests.test_up import wait_for_line

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".artifacts" / "screenshots"
DEMO_EVENTS = 1164
TOKEN = f"e2e-{uuid.uuid4().hex[:16]}"
VIEWPORT = {"width": 1280, "height": 800}
TOKEN_KEY = "aegis-stream.token"  # the page's sessionStorage key


@dataclass
class Product:
    """One running ``aegis-stream up``: its URL, its token, and a way to ask its API."""

    base: str
    token: str | None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.base}{path}", params=params, headers=self.headers(), timeout=10)
        response.raise_for_status()
        return response.json()

    def post_events(self, events: list[dict[str, Any]]) -> Any:
        response = httpx.post(f"{self.base}/api/v1/events", json=events, headers=self.headers(), timeout=10)
        response.raise_for_status()
        return response.json()


def _drop_keys(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        batch = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for i in range(0, len(batch), 500):
            client.delete(*batch[i : i + 500])
    finally:
        client.close()


@pytest.fixture(scope="package")
def start_product(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Factory: ``start(token=..., demo=...)`` runs ``aegis-stream up``; all stop (cleanly) at the end."""
    running: list[tuple[subprocess.Popen[str], str]] = []

    def start(*, token: str | None, demo: bool) -> Product:
        prefix = f"aegis-e2e-{uuid.uuid4().hex[:12]}"
        home = tmp_path_factory.mktemp("e2e-home")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "AEGIS_"))}
        env.update(
            HOME=str(home),
            PYTHONUNBUFFERED="1",
            REDIS_URL=redis_url,
            AEGIS_KEY_PREFIX=prefix,
            AEGIS_PORT="0",
            AEGIS_LOG_LEVEL="WARNING",
            AEGIS_BLOCK_MS="100",
        )
        if token:
            env["AEGIS_API_TOKEN"] = token
        command = [sys.executable, "-m", "aegis_stream", "up", *(["--demo"] if demo else [])]
        proc = subprocess.Popen(
            command, env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        running.append((proc, prefix))
        base = wait_for_line(proc, r"(http://127\.0\.0\.1:\d+)/api/v1/dashboard/overview", timeout=60).group(
            1
        )
        product = Product(base, token)
        deadline = time.monotonic() + 30
        while product.api("/api/v1/dashboard/overview")["total_actions"] < (DEMO_EVENTS if demo else 0):
            assert time.monotonic() < deadline, "the projector did not catch up with the demo sample"
            time.sleep(0.05)
        return product

    yield start
    codes = []
    for proc, prefix in running:
        proc.send_signal(signal.SIGINT)
        try:
            codes.append(proc.wait(timeout=30))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            _drop_keys(redis_url, prefix)
    assert codes == [0] * len(running), "up did not stop cleanly"


@pytest.fixture(scope="package")
def product(start_product: Any) -> Product:
    """The product with a dashboard token set and the real sample imported."""
    started: Product = start_product(token=TOKEN, demo=True)
    return started


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium; a clear failure (not a skip) when it is missing."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the dashboard's end-to-end tests need Debian's chromium "
            "(apt-get install -y chromium; .ci/run installs it)",
            pytrace=False,
        )
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class Watch:
    """What a page did wrong: console errors, uncaught exceptions, requests to other hosts."""

    base: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    allowed: tuple[str, ...] = ()  # console errors expected by the test (e.g. a 401 it provokes)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(a in message.text for a in self.allowed):
            self.errors.append(message.text)

    def request(self, url: str) -> None:
        if not url.startswith((self.base + "/", "blob:", "data:")):
            self.foreign.append(url)


def open_page(
    browser: Browser, product: Product, *, token: str | None, viewport: dict[str, int] = VIEWPORT
) -> tuple[BrowserContext, Page, Watch]:
    """A fresh browser context (with ``token`` already in its session storage, if given)."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    if token:
        context.add_init_script(f"sessionStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(token)})")
    page = context.new_page()
    watch = Watch(product.base)
    page.on("console", watch.console)
    page.on("pageerror", lambda e: watch.errors.append(f"uncaught: {e}"))
    page.on("request", lambda r: watch.request(r.url))
    return context, page, watch


@pytest.fixture
def signed_in(browser: Browser, product: Product) -> Iterator[tuple[Page, Watch]]:
    """A page whose tab already holds the token; no console error and no foreign request allowed."""
    context, page, watch = open_page(browser, product, token=product.token)
    yield page, watch
    context.close()
    assert watch.errors == []
    assert watch.foreign == []


def screenshot(page: Page, name: str) -> None:
    """Write ``.artifacts/screenshots/<name>.png`` (the viewport) for a reviewer."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def n(value: int) -> str:
    """A count as the page writes it."""
    return f"{value:,}"


def js_number(value: float) -> str:
    """A JSON number as JavaScript prints it (100.0 -> "100")."""
    return str(int(value)) if float(value).is_integer() else repr(value)


SETTLED = """() => {
    const main = document.getElementById("main");
    return main.dataset.route === location.hash && !main.hasAttribute("aria-busy");
}"""


def settled(page: Page) -> None:
    """Wait until the page shows the route in the address bar (a click that navigates returns before)."""
    page.wait_for_function(SETTLED)


def go(page: Page, product: Product, route: str) -> None:
    """Open ``#/<route>`` and wait until it is drawn."""
    page.goto(f"{product.base}/#/{route}")
    settled(page)
    expect(page.locator("#page-title")).to_be_visible()
