"""Compliance reports (governance, SOC2, GDPR) from the projector's aggregates (pure).

Every number comes from counters the projector keeps, so a report costs the
same at any log size. Findings, titles, severities, categories, penalties,
scores and grades follow the reference; the sentences are ours (DESIGN D6)
and carry the same numbers in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aegis_stream.events import APPROVALS, format_timestamp
from aegis_stream.project.projection import HIGH_RISK, NO_AGENT
from aegis_stream.reports.grades import compliance_grade
from aegis_stream.views import Activity, Aggregates

REPORT_TYPES = ("gdpr", "governance", "soc2")
UNKNOWN_AGENT = "unknown"  # what the governance report calls an event without agent


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding of a report, with its score penalty (0 for none)."""

    severity: str
    category: str
    title: str
    description: str
    recommendation: str
    penalty: int = 0

    def to_dict(self) -> dict[str, str]:
        """The finding as the API shows it (the penalty stays inside)."""
        return {
            "severity": self.severity,
            "category": self.category,
            "title": self.title,
            "description": self.description,
            "recommendation": self.recommendation,
        }


def _pct(part: int, total: int) -> float:
    return part / total * 100 if total else 0.0


def _governance(agg: Aggregates) -> tuple[list[Finding], str]:
    total = agg.total
    counts = _approvals(agg)
    covered = agg.totals["covered"]
    pct = covered / total * 100 if total else 100.0
    findings = []
    if pct >= 90.0:
        types = len(agg.dims.get("type", []))
        findings.append(
            Finding(
                "info",
                "access_control",
                "Policy Coverage: PASS",
                f"{pct:.1f}% of actions ({covered:,}/{total:,}) were matched by an explicit "
                f"policy rule, across {types:,} distinct action types.",
                "Keep coverage this high as new action types appear.",
            )
        )
    elif pct >= 70.0:
        findings.append(
            Finding(
                "warning",
                "access_control",
                "Policy Coverage: WARN",
                f"{pct:.1f}% of actions were matched by an explicit rule; "
                f"{total - covered:,} actions were decided by the policy defaults.",
                "Write rules for the action types that fall through to the defaults.",
                penalty=10,
            )
        )
    else:
        findings.append(
            Finding(
                "critical",
                "access_control",
                "Policy Coverage: FAIL",
                f"Only {pct:.1f}% of actions were matched by an explicit rule; "
                "the defaults decided the rest.",
                "Extend the policy: most actions are governed only by its defaults.",
                penalty=25,
            )
        )
    if total:
        approved, auto = counts["approve"], counts["auto"]
        if approved:
            text = (
                f"{approved:,} actions ({_pct(approved, total):.1f}%) waited for a human approval; "
                f"{auto:,} ran on automatic approval."
            )
            advice = "Revisit from time to time which actions need a human."
        else:
            text = (
                f"No action waited for a human approval; all {auto:,} actions "
                "that were not blocked ran automatically."
            )
            advice = "Decide whether some action types deserve a human review."
        findings.append(Finding("info", "access_control", "Approval Gate Usage", text, advice))
        risks = sorted(agg.counts("risk").items())
        listed = ", ".join(f"{level}: {n:,}" for level, n in risks)
        hc = sum(n for level, n in risks if level in HIGH_RISK)
        hc_pct = _pct(hc, total)
        high = hc_pct > 30
        findings.append(
            Finding(
                "warning" if high else "info",
                "access_control",
                "Risk Distribution",
                f"Actions per risk level: {listed}. "
                f"HIGH and CRITICAL together: {hc_pct:.1f}% of all actions.",
                "A large share of actions is high or critical risk: tighten the rules for them."
                if high
                else "Keep an eye on the trend of high-risk actions.",
                penalty=10 if high else 0,
            )
        )
        agents = _agents_by_id(agg)
        if agents:
            listed = ", ".join(f"{agent}: {n:,} actions" for agent, n in agents)
            findings.append(
                Finding(
                    "info",
                    "audit_trail",
                    "Agent Behavior Summary",
                    f"Actions per agent: {listed}.",
                    "Look over each agent's activity for anything unusual.",
                )
            )
    summary = (
        f"{total:,} actions; {pct:.0f}% covered by explicit rules; {counts['block']:,} blocked, "
        f"{counts['approve']:,} approved by a human, {counts['auto']:,} approved automatically."
    )
    return findings, summary


def _agents_by_id(agg: Aggregates) -> list[tuple[str, int]]:
    """Named agents sorted by id; events without agent (and an agent called ``unknown``) are left out."""
    merged: dict[str, int] = {}
    for agent, n in agg.dims.get("agent", []):
        name = agent if agent != NO_AGENT else UNKNOWN_AGENT
        merged[name] = merged.get(name, 0) + n
    return sorted((a, n) for a, n in merged.items() if a != UNKNOWN_AGENT)


def _soc2(agg: Aggregates, activity: Activity) -> tuple[list[Finding], str]:
    total, totals = agg.total, agg.totals
    counts = _approvals(agg)
    matched = totals["matched"]
    eval_pct = matched / total * 100 if total else 100.0
    findings = []
    if eval_pct >= 100.0:
        findings.append(
            Finding(
                "info",
                "access_control",
                "CC6.1 -- Logical Access Security: PASS",
                f"Every one of the {total:,} actions was checked against the policy before it ran.",
                "Keep every action path going through the policy engine.",
            )
        )
    else:
        findings.append(
            Finding(
                "critical",
                "access_control",
                "CC6.1 -- Logical Access Security: FAIL",
                f"{eval_pct:.1f}% of actions ({matched:,}/{total:,}) went through a policy evaluation; "
                f"{total - matched:,} did not.",
                "Route every action path through the policy engine.",
                penalty=20,
            )
        )
    bypass = totals["bypass"]
    if bypass == 0:
        findings.append(
            Finding(
                "info",
                "access_control",
                "CC6.8 -- Unauthorized Access Prevention: PASS",
                f"{counts['block']:,} unauthorised attempts were blocked, and {bypass} high-risk actions "
                f"ran without review.",
                "Keep the current blocking rules.",
            )
        )
    else:
        findings.append(
            Finding(
                "critical",
                "access_control",
                "CC6.8 -- Unauthorized Access Prevention: FAIL",
                f"{bypass:,} high- or critical-risk actions ran on automatic approval, with no human review.",
                "Require a human approval for high and critical risk actions.",
                penalty=25,
            )
        )
    gaps = activity.gaps
    if gaps == 0:
        findings.append(
            Finding(
                "info",
                "audit_trail",
                "CC7.2 -- System Monitoring: PASS",
                "The audit trail has no silent stretch longer than an hour.",
                "Keep logging every action.",
            )
        )
    else:
        findings.append(
            Finding(
                "warning",
                "audit_trail",
                "CC7.2 -- System Monitoring: WARN",
                f"{gaps:,} stretches of more than 1 hour passed with nothing logged.",
                "Find out why nothing was logged then; a heartbeat event tells downtime from quiet.",
                penalty=min(15, 5 * gaps),
            )
        )
    changes, unmatched = totals["changes"], totals["changes_unmatched"]
    if total and changes and unmatched:
        findings.append(
            Finding(
                "warning",
                "audit_trail",
                "CC8.1 -- Change Management: WARN",
                f"{changes:,} policy or configuration changes were found, and some of them matched no rule.",
                "Cover configuration changes with policy rules.",
                penalty=10,
            )
        )
    elif changes:
        findings.append(
            Finding(
                "info",
                "audit_trail",
                "CC8.1 -- Change Management: PASS",
                f"{changes:,} policy or configuration changes were found, each matched by a rule.",
                "Keep tracking configuration changes.",
            )
        )
    else:
        findings.append(
            Finding(
                "info",
                "audit_trail",
                "CC8.1 -- Change Management: PASS",
                "No policy or configuration changes in this period.",
                "Nothing to do.",
            )
        )
    summary = (
        f"{total:,} actions evaluated; {eval_pct:.0f}% enforced by policy; "
        f"{counts['block']:,} blocked ({_pct(counts['block'], total):.1f}%); "
        f"{counts['approve']:,} approved by a human ({_pct(counts['approve'], total):.1f}%)."
    )
    return findings, summary


def _gdpr(agg: Aggregates) -> tuple[list[Finding], str]:
    total, totals = agg.total, agg.totals
    personal, unlogged = totals["personal"], totals["personal_unmatched"]
    if not personal:
        access = Finding(
            "info",
            "data_handling",
            "Data Access Logging: PASS",
            "No access to personal data in this period.",
            "Nothing to do.",
        )
    elif not unlogged:
        access = Finding(
            "info",
            "data_handling",
            "Data Access Logging: PASS",
            f"{personal:,} accesses to personal data, every one covered by a policy rule.",
            "Keep the personal-data rules in force.",
        )
    else:
        access = Finding(
            "critical",
            "data_handling",
            "Data Access Logging: FAIL",
            f"{unlogged:,} of {personal:,} accesses to personal data had no policy rule.",
            "Write rules for every way personal data is accessed.",
            penalty=20,
        )
    deletes, unruled = totals["deletes"], totals["deletes_unmatched"]
    if not deletes:
        erasure = Finding(
            "info",
            "data_handling",
            "Right to Erasure Compliance: PASS",
            "No delete operations in this period.",
            "Nothing to do.",
        )
    elif not unruled:
        erasure = Finding(
            "info",
            "data_handling",
            "Right to Erasure Compliance: PASS",
            f"{deletes:,} delete operations, all with a full audit trail.",
            "Keep logging every deletion.",
        )
    else:
        erasure = Finding(
            "warning",
            "data_handling",
            "Right to Erasure Compliance: WARN",
            f"{deletes:,} delete operations were found, and some had no policy rule.",
            "Give every delete operation an explicit rule.",
            penalty=15,
        )
    heavy = [
        (kind, n)
        for kind, n in agg.dims.get("type", [])
        if "read" in kind.lower() and n > total * 0.5 and total > 1
    ]
    if heavy:
        listed = ", ".join(f"{kind} ({n}x)" for kind, n in heavy)
        minimisation = Finding(
            "warning",
            "data_handling",
            "Data Minimization: WARN",
            f"Heavy read patterns: {listed}, each over 50% of all actions.",
            "Check that every read is needed; consider limits on data access.",
            penalty=10,
        )
    else:
        minimisation = Finding(
            "info",
            "data_handling",
            "Data Minimization: PASS",
            "No read pattern dominates the activity.",
            "Keep collecting only the data you need.",
        )
    blocked = _approvals(agg)["block"]
    summary = (
        f"{total:,} actions; {personal:,} touched personal data; {deletes:,} deletes; {blocked:,} blocked."
    )
    return [access, erasure, minimisation], summary


def _approvals(agg: Aggregates) -> dict[str, int]:
    counts = agg.counts("approval")
    return {a: counts.get(a, 0) for a in APPROVALS}


def _score(findings: list[Finding]) -> int:
    return max(0, min(100, 100 - sum(f.penalty for f in findings)))


def governance_score(agg: Aggregates) -> tuple[int, str]:
    """Score and grade of the governance report (what overview shows)."""
    score = _score(_governance(agg)[0])
    return score, compliance_grade(score)


def compliance_report(kind: str, agg: Aggregates, activity: Activity, now_us: int) -> dict[str, Any]:
    """The report of ``kind`` (one of :data:`REPORT_TYPES`) in the reference's key order.

    The period runs from the earliest to the latest event time (both ``now``
    when there are no events); ``generated_at`` is ``now``.
    """
    if kind == "governance":
        findings, summary = _governance(agg)
    elif kind == "soc2":
        findings, summary = _soc2(agg, activity)
    elif kind == "gdpr":
        findings, summary = _gdpr(agg)
    else:
        raise ValueError(f"unknown report type {kind!r}")
    score = _score(findings)
    counts = _approvals(agg)
    start = activity.first_us if activity.first_us is not None else now_us
    end = activity.last_us if activity.last_us is not None else now_us
    return {
        "report_type": kind,
        "generated_at": format_timestamp(now_us),
        "period_start": format_timestamp(start),
        "period_end": format_timestamp(end),
        "total_actions": agg.total,
        "blocked_actions": counts["block"],
        "approved_actions": counts["approve"],
        "auto_approved": counts["auto"],
        "summary": summary,
        "score": score,
        "grade": compliance_grade(score),
        "findings": [f.to_dict() for f in findings],
    }
