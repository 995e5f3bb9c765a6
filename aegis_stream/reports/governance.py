"""The governance score, computed from aggregates the projector maintains.

Same thresholds and penalties as the reference's governance report: policy
coverage (PASS >= 90 %, WARN >= 70 % costs 10, else FAIL costs 25) and the
share of HIGH and CRITICAL actions (over 30 % costs 10).
"""

from __future__ import annotations

from dataclasses import dataclass

from aegis_stream.reports.grades import compliance_grade
from aegis_stream.views import Aggregates


@dataclass(frozen=True, slots=True)
class GovernanceScore:
    """Score, grade and the two numbers they come from."""

    score: int
    grade: str
    coverage_pct: float
    high_critical_pct: float


def coverage_pct(covered: int, total: int) -> float:
    """Share of actions matched by a real rule (not ``<default>``); 100.0 when empty."""
    return covered / total * 100 if total else 100.0


def governance_score(agg: Aggregates) -> GovernanceScore:
    """Score and grade of the governance report over every event."""
    total = agg.total
    pct = coverage_pct(agg.totals["covered"], total)
    penalty = 0
    if pct < 70.0:
        penalty += 25
    elif pct < 90.0:
        penalty += 10
    hc_pct = agg.totals["high_risk"] / total * 100 if total else 0.0
    if total and hc_pct > 30:
        penalty += 10
    score = max(0, min(100, 100 - penalty))
    return GovernanceScore(
        score=score, grade=compliance_grade(score), coverage_pct=pct, high_critical_pct=hc_pct
    )
