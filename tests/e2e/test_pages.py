"""Every page of the web dashboard, in a real headless Chromium, shows the numbers the API returns.

The running product holds the bundled real sample; each test reads the API
with httpx and compares it with the DOM's text, and leaves a 1280x800
screenshot in ``.artifacts/screenshots/``. The audit page's filters narrow
its table, and its export holds exactly the filtered entries.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Product, Watch, go, js_number, n, screenshot, settled

pytestmark = pytest.mark.redis


def test_overview_shows_the_api_numbers(signed_in: tuple[Page, Watch], product: Product) -> None:
    page, _ = signed_in
    o = product.api("/api/v1/dashboard/overview")
    policy = product.api("/api/v1/dashboard/policy/summary")
    go(page, product, "overview")
    expect(page.locator("#kpi-total")).to_have_text(n(o["total_actions"]))
    expect(page.locator("#kpi-blocked")).to_have_text(n(o["approval_distribution"]["block"]))
    expect(page.locator("#kpi-compliance")).to_have_text(f"{o['compliance_grade']} · {o['compliance_score']}")
    expect(page.locator("#kpi-agents")).to_have_text(n(o["active_agents"]))
    for box, counts in (
        ("#risk-bars", o["risk_distribution"]),
        ("#approval-bars", o["approval_distribution"]),
    ):
        for key, count in counts.items():
            expect(page.locator(f'{box} li[data-key="{key}"] .bar-value')).to_have_text(n(count))
    expect(page.locator("#policy-facts")).to_contain_text(f"Rules{n(policy['rule_count'])}")
    expect(page.locator("#live-feed li")).to_have_count(10)  # the newest entries, before any live one
    screenshot(page, "overview")
    for period in ("7d", "30d", "24h"):
        buckets = product.api("/api/v1/dashboard/stats/timeline", period=period)["buckets"]
        page.locator(f'button[data-period="{period}"]').click()
        expect(page.locator(f'button[data-period="{period}"]')).to_have_attribute("aria-pressed", "true")
        summary = page.locator("#timeline-summary")
        expect(summary).to_have_attribute("data-period", period)
        expect(summary).to_have_attribute("data-total", str(sum(b["total"] for b in buckets)))
    assert (
        sum(b["total"] for b in product.api("/api/v1/dashboard/stats/timeline", period="7d")["buckets"])
        == o["total_actions"]
    )


def test_audit_filters_narrow_the_table_and_export_it(
    signed_in: tuple[Page, Watch], product: Product
) -> None:
    page, _ = signed_in
    everything = product.api("/api/v1/dashboard/audit/recent", limit=50)
    stats = product.api("/api/v1/dashboard/audit/stats")
    go(page, product, "audit")
    expect(page.locator("#audit-count")).to_have_attribute("data-total", str(everything["total"]))
    expect(page.locator("#audit-table tbody tr")).to_have_count(50)
    first = everything["entries"][0]
    expect(page.locator("#audit-table tbody tr").first).to_contain_text(f"#{first['id']}")
    screenshot(page, "audit")

    # one filter: the rarest action type
    action, count = min(stats["by_action_type"].items(), key=lambda kv: kv[1])
    page.get_by_label("Action type").fill(action)
    page.get_by_role("button", name="Apply").click()
    settled(page)
    expect(page.locator("#audit-count")).to_have_attribute("data-total", str(count))
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(min(count, 50))
    for cell in rows.locator("td:nth-child(4)").all_text_contents():
        assert cell == action

    # two filters combined, then the detail of one entry, by keyboard
    risk = next(iter(product.api("/api/v1/dashboard/overview")["risk_distribution"]))
    both = product.api("/api/v1/dashboard/audit/recent", action_type=action, risk_level=risk, limit=50)
    page.get_by_label("Risk level").select_option(risk)
    page.get_by_role("button", name="Apply").click()
    settled(page)
    expect(page.locator("#audit-count")).to_have_attribute("data-total", str(both["total"]))
    assert both["total"] <= count < everything["total"]
    if both["entries"]:
        entry = both["entries"][0]
        page.locator("#audit-table tbody button").first.focus()
        page.keyboard.press("Enter")
        dialog = page.locator("#audit-detail")
        expect(dialog).to_be_visible()
        expect(dialog.locator("#detail-title")).to_have_text(f"Entry #{entry['id']}")
        expect(dialog.locator('[data-key="session_id"] dd')).to_have_text(entry["session_id"])
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()

    # export of the current filter (action type only) as JSON Lines
    page.get_by_role("button", name="Clear").click()
    settled(page)
    expect(page.locator("#audit-count")).to_have_attribute("data-total", str(everything["total"]))
    page.get_by_label("Action type").fill(action)
    page.get_by_role("button", name="Apply").click()
    settled(page)
    expect(page.locator("#audit-count")).to_have_attribute("data-total", str(count))
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSON Lines").click()
    lines = Path(download.value.path()).read_text().splitlines()
    exported = [json.loads(line) for line in lines]
    assert len(exported) == count and {e["action_type"] for e in exported} == {action}
    expected = product.api("/api/v1/dashboard/audit/recent", action_type=action, limit=1000)["entries"]
    assert exported == expected[: len(exported)]
    expect(page.locator("#export-status")).to_have_text(f"Exported {n(count)} entries.")


def test_audit_paging(signed_in: tuple[Page, Watch], product: Product) -> None:
    page, _ = signed_in
    second = product.api("/api/v1/dashboard/audit/recent", limit=25, offset=25)
    go(page, product, "audit?limit=25")
    page.get_by_role("button", name="Next").click()
    settled(page)
    expect(page.locator("#audit-count")).to_contain_text(f"Showing 26\u201350 of {n(second['total'])}")
    expect(page.locator("#audit-table tbody tr").first).to_contain_text(f"#{second['entries'][0]['id']}")
    page.get_by_role("button", name="Previous").click()
    settled(page)
    expect(page.locator("#audit-count")).to_contain_text("Showing 1\u201325")


def test_anomalies_show_every_profile_and_one_agent(signed_in: tuple[Page, Watch], product: Product) -> None:
    page, _ = signed_in
    profiles = product.api("/api/v1/dashboard/anomalies/profiles")["profiles"]
    alerts = product.api("/api/v1/dashboard/anomalies/alerts")["alerts"]
    go(page, product, "anomalies")
    rows = page.locator("#profiles-table tbody tr")
    expect(rows).to_have_count(len(profiles))
    for p in profiles:
        row = page.locator(f'#profiles-table tr[data-agent="{p["agent_id"]}"]')
        expect(row.locator("td:nth-child(2)")).to_have_text(n(p["total_actions"]))
        expect(row.locator("td:nth-child(3)")).to_have_text(n(p["blocked_count"]))
        tone = "bad" if p["block_rate"] >= 0.5 else "warn" if p["block_rate"] >= 0.1 else "ok"
        expect(row.locator(f".rate-{tone}")).to_have_text(f"{p['block_rate'] * 100:.1f}%")
    expect(page.locator("#alert-list li")).to_have_count(len(alerts))
    screenshot(page, "anomalies")
    agent = max(profiles, key=lambda p: p["total_actions"])
    page.locator("#profiles-table").get_by_role("link", name=agent["agent_id"], exact=True).click()
    settled(page)
    expect(page.locator("#page-title")).to_have_text(f"Agent {agent['agent_id']}")
    expect(page.locator("#agent-total")).to_have_text(n(agent["total_actions"]))
    top = max(agent["action_types"].items(), key=lambda kv: kv[1])
    expect(page.locator(f'#agent-types li[data-key="{top[0]}"] .bar-value')).to_have_text(n(top[1]))
    screenshot(page, "anomalies-agent")


def test_policy_shows_score_checks_rules_and_yaml(signed_in: tuple[Page, Watch], product: Product) -> None:
    page, _ = signed_in
    score = product.api("/api/v1/dashboard/policy/score")
    summary = product.api("/api/v1/dashboard/policy/summary")
    yaml = product.api("/api/v1/dashboard/policy/yaml")["yaml"]
    go(page, product, "policy")
    expect(page.locator("#policy-score")).to_have_text(f"{score['score']} / 100")
    expect(page.locator("#policy-grade")).to_have_text(f"Grade {score['grade']}")
    checks = page.locator("#policy-checks li")
    expect(checks).to_have_count(8)
    for i, check in enumerate(score["checks"]):
        expect(checks.nth(i)).to_have_attribute("data-passed", str(check["passed"]).lower())
        expect(checks.nth(i).locator(".check-name")).to_have_text(check["name"])
    expect(page.locator("#rules-table tbody tr")).to_have_count(summary["rule_count"])
    for i, rule in enumerate(summary["rules"]):
        expect(page.locator("#rules-table tbody tr").nth(i).locator("td:nth-child(2)")).to_have_text(
            rule["name"]
        )
    assert page.locator("#policy-yaml").text_content() == yaml
    screenshot(page, "policy")


def test_compliance_tabs_by_keyboard(signed_in: tuple[Page, Watch], product: Product) -> None:
    page, _ = signed_in
    go(page, product, "compliance")
    for i, kind in enumerate(("governance", "soc2", "gdpr")):
        report: dict[str, Any] = product.api("/api/v1/dashboard/compliance/report", type=kind)
        tab = page.locator(f"#tab-{kind}")
        if i:
            page.keyboard.press("ArrowRight")  # from the focused tab to the next one
            settled(page)
            expect(tab).to_be_focused()  # focus follows the selection across the redraw
        else:
            tab.focus()
        expect(tab).to_have_attribute("aria-selected", "true")
        expect(page.locator("#report-score")).to_have_text(f"{report['score']} / 100")
        expect(page.locator("#report-grade")).to_have_text(f"Grade {report['grade']}")
        expect(page.locator("#report-total")).to_have_text(n(report["total_actions"]))
        expect(page.locator("#report-blocked")).to_have_text(n(report["blocked_actions"]))
        expect(page.locator("#report-summary")).to_have_text(report["summary"])
        expect(page.locator("#findings > li")).to_have_count(len(report["findings"]))
        if kind == "governance":
            screenshot(page, "compliance")


def test_regulatory_covers_all_five_frameworks(signed_in: tuple[Page, Watch], product: Product) -> None:
    page, _ = signed_in
    go(page, product, "regulatory")
    frameworks = ("eu_ai_act", "nist_ai_rmf", "soc2", "iso_42001", "owasp_agentic")
    expect(page.locator("#framework-scores li")).to_have_count(5)
    screenshot(page, "regulatory")
    for fw in frameworks:
        r = product.api("/api/v1/dashboard/compliance/regulatory", framework=fw)
        expect(page.locator(f'#framework-scores li[data-framework="{fw}"] .bar-value')).to_have_text(
            f"{js_number(r['coverage_score'])}%"
        )
        page.locator(f"#tab-{fw}").click()
        settled(page)
        expect(page.locator(f"#tab-{fw}")).to_have_attribute("aria-selected", "true")
        expect(page.locator("#reg-coverage")).to_have_text(f"{js_number(r['coverage_score'])}%")
        expect(page.locator("#reg-total")).to_have_text(n(r["total_requirements"]))
        expect(page.locator("#reg-full")).to_have_text(n(r["fully_covered"]))
        expect(page.locator("#reg-partial")).to_have_text(n(r["partially_covered"]))
        expect(page.locator("#reg-none")).to_have_text(n(r["not_covered"]))
        expect(page.locator("#reg-recommendations li")).to_have_count(len(r["recommendations"]))
    screenshot(page, "regulatory-owasp")


def test_system_shows_health_and_pipeline(signed_in: tuple[Page, Watch], product: Product) -> None:
    page, _ = signed_in
    health = product.api("/api/v1/dashboard/system/health")
    go(page, product, "system")
    p = health["pipeline"]
    expect(page.locator("#sys-status")).to_have_text(health["status"])
    expect(page.locator("#sys-audit-entries")).to_have_text(n(health["audit_entries"]))
    expect(page.locator("#sys-dead")).to_have_text(n(p["dead_letters"]))
    expect(page.locator("#sys-lag")).to_have_text(n(p["lag"]))
    expect(page.locator("#sys-pending")).to_have_text(n(p["pending"]))
    expect(page.locator("#sys-length")).to_have_text(n(p["stream_length"]))
    expect(page.locator("#partitions-table tbody tr")).to_have_count(len(p["partitions"]))
    # a second sample, 2 s later, gives a rate
    expect(page.locator("#sys-throughput")).to_have_text(re.compile(r"^[\d,]+/s$"), timeout=5000)
    screenshot(page, "system")
