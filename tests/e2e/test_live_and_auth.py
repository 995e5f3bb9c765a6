"""The web dashboard live, signed in and on a phone: the live feed, the token gate, small screens.

An event posted during a test reaches the live feed within 2 seconds (the
product's projector is running); with a token set the page fails closed
until it is entered; at 390px every page is readable without scrolling
sideways, and the keyboard moves between pages.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import TOKEN, Product, Watch, go, n, open_page, screenshot, settled

pytestmark = pytest.mark.redis


def test_a_new_event_reaches_the_live_feed_within_2_seconds(
    signed_in: tuple[Page, Watch], product: Product
) -> None:
    page, _ = signed_in
    go(page, product, "overview")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=10_000)
    before = product.api("/api/v1/dashboard/overview")["total_actions"]
    target = f"e2e-live-{uuid.uuid4().hex[:8]}"
    event = {
        "session_id": "e2e",
        "agent_id": "e2e-agent",
        "action_type": "e2e_probe",
        "action_target": target,
        "risk_level": "HIGH",
        "approval": "approve",
        "action_params": {"password": "never-shown"},
    }
    assert product.post_events([event])["accepted"] == 1
    item = page.locator("#live-feed li", has_text=target)
    expect(item).to_be_visible(timeout=2000)
    expect(item).to_contain_text("e2e-agent")
    expect(item).to_contain_text("HIGH")
    # the projector applies it; the views' change redraws the KPIs
    expect(page.locator("#kpi-total")).to_have_text(n(before + 1), timeout=10_000)
    assert "never-shown" not in page.content()


def test_with_a_token_set_the_page_fails_closed_until_it_is_entered(
    browser: Browser, product: Product
) -> None:
    assert product.token == TOKEN
    context, page, watch = open_page(browser, product, token=None)
    try:
        page.goto(f"{product.base}/dashboard")
        field = page.get_by_label("Dashboard token")
        expect(field).to_be_visible()
        expect(field).to_be_focused()
        expect(page.locator("#app")).to_be_hidden()
        assert page.locator("#main").inner_html() == ""  # nothing rendered without the token
        assert page.locator("#kpi-total").count() == 0
        screenshot(page, "sign-in")
        assert watch.errors == []  # the page asked for the token without provoking a refused call

        field.fill("not-the-token")
        page.get_by_role("button", name="Open the dashboard").click()
        expect(page.locator("#token-error")).to_contain_text("not accepted")
        expect(field).to_be_visible()
        assert page.locator("#main").inner_html() == ""

        field.fill(TOKEN)
        page.keyboard.press("Enter")
        total = product.api("/api/v1/dashboard/overview")["total_actions"]
        expect(page.locator("#kpi-total")).to_have_text(n(total))
        expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=10_000)
        assert page.evaluate("sessionStorage.getItem('aegis-stream.token')") == TOKEN

        page.get_by_role("button", name="Sign out").click()
        expect(field).to_be_visible()
        assert page.locator("#kpi-total").count() == 0
        assert page.evaluate("sessionStorage.getItem('aegis-stream.token')") is None
    finally:
        context.close()
    assert watch.errors == [] and watch.foreign == []


def test_without_a_token_configured_the_page_opens_directly(browser: Browser, start_product: Any) -> None:
    open_product: Product = start_product(token=None, demo=False)
    context, page, watch = open_page(browser, open_product, token=None)
    try:
        page.goto(f"{open_product.base}/")
        expect(page.locator("#kpi-total")).to_have_text("0")
        expect(page.locator("#gate")).to_be_hidden()
        expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
        expect(page.locator("#live-feed")).to_contain_text("No events yet.")
    finally:
        context.close()
    assert watch.errors == [] and watch.foreign == []


def test_readable_at_phone_width(browser: Browser, product: Product) -> None:
    context, page, watch = open_page(
        browser, product, token=product.token, viewport={"width": 390, "height": 844}
    )
    try:
        for route in ("overview", "audit", "anomalies", "policy", "compliance", "regulatory", "system"):
            go(page, product, route)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (route, width)  # wide tables scroll inside their own region
            expect(page.get_by_role("navigation", name="Dashboard sections")).to_be_visible()
            if route == "overview":
                expect(page.locator("#kpi-total")).to_be_visible()
                screenshot(page, "overview-phone")
        page.locator('#nav a[data-page="policy"]').focus()
        page.keyboard.press("Enter")
        settled(page)
        expect(page.locator("#page-title")).to_have_text("Policy")
        expect(page.locator("#page-title")).to_be_focused()  # focus moves to the new page's heading
    finally:
        context.close()
    assert watch.errors == [] and watch.foreign == []


def test_long_values_and_odd_links_keep_the_page_whole(browser: Browser, start_product: Any) -> None:
    """An agent id of 4,096 characters wraps or is cut; a malformed link still draws a page."""
    product: Product = start_product(token=None, demo=False)
    long_agent, mid_agent = "L" * 4096, "m" * 60
    product.post_events(
        [
            {"session_id": "s", "action_type": "read", "action_target": "t" * 4096, "agent_id": long_agent},
            {"session_id": "s", "action_type": "read", "action_target": "x", "agent_id": mid_agent},
        ]
    )
    deadline = time.monotonic() + 20
    while product.api("/api/v1/dashboard/overview")["total_actions"] < 2:
        assert time.monotonic() < deadline, "the events were not projected"
        time.sleep(0.05)
    for width in (1280, 390):
        context, page, watch = open_page(
            browser, product, token=None, viewport={"width": width, "height": 800}
        )
        try:
            for route in ("overview", "audit", "anomalies", f"anomalies/{mid_agent}", "compliance"):
                go(page, product, route)
                scrolled = page.evaluate("document.documentElement.scrollWidth")
                assert scrolled <= width, (width, route, scrolled)
            page.goto(f"{product.base}/#/anomalies/%E0%A4%A")  # a stray "%": not a valid escape
            settled(page)
            expect(page.locator("#page-title")).to_be_visible()
        finally:
            context.close()
        assert watch.errors == [] and watch.foreign == []
