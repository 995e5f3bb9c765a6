"""The regulatory catalogue and gap analysis, against the reference's published catalogue."""

from __future__ import annotations

import pytest

from aegis_stream.reports.regulatory import FRAMEWORKS, analyze, catalogue

EU_BIG = "Up to €35M or 7% of global annual turnover"
IDS = {
    "eu_ai_act": [f"EU-AI-ACT-ART-{n}" for n in (9, 10, 11, 12, 13, 14, 15, 16, 17, 26)],
    "nist_ai_rmf": [
        "NIST-GOVERN-1",
        "NIST-GOVERN-2",
        "NIST-MAP-1",
        "NIST-MAP-3",
        "NIST-MEASURE-1",
        "NIST-MEASURE-2",
        "NIST-MANAGE-1",
        "NIST-MANAGE-2",
    ],
    "soc2": ["SOC2-CC6.1", "SOC2-CC6.8", "SOC2-CC7.2", "SOC2-CC8.1", "SOC2-A1.2", "SOC2-PI1.1"],
    "iso_42001": ["ISO-42001-6.1", "ISO-42001-8.4", "ISO-42001-9.1", "ISO-42001-9.2", "ISO-42001-10.1"],
    "owasp_agentic": [f"OWASP-AGENT-{n:02d}" for n in range(1, 11)],
}
FULL = {"EU-AI-ACT-ART-12", "EU-AI-ACT-ART-14", "NIST-GOVERN-1", "NIST-MANAGE-1"}
FULL |= {"SOC2-CC6.1", "SOC2-CC6.8", "SOC2-CC7.2", "SOC2-CC8.1"}


def test_frameworks_and_requirement_order() -> None:
    cat = catalogue()
    assert tuple(cat.requirements) == FRAMEWORKS
    assert {f: [r.requirement_id for r in reqs] for f, reqs in cat.requirements.items()} == IDS
    assert len(cat.features) == 10
    for reqs in cat.requirements.values():
        for r in reqs:
            assert set(r.features) <= set(cat.features), r.requirement_id
            assert set(r.features.values()) <= {"full", "partial"}
            assert ("full" in r.features.values()) == (r.requirement_id in FULL), r.requirement_id
            assert r.description and r.title and r.category


@pytest.mark.parametrize(
    ("framework", "mandatory", "deadline", "penalties"),
    [
        ("eu_ai_act", True, "2026-08-02", {EU_BIG: 9, "Up to €15M or 3% of global annual turnover": 1}),
        ("nist_ai_rmf", False, None, {None: 8}),
        ("soc2", True, None, {"Audit qualification; loss of SOC2 Type II attestation": 6}),
        ("iso_42001", True, None, {"Loss of ISO 42001 certification": 5}),
        ("owasp_agentic", False, None, {None: 10}),
    ],
)
def test_flags_deadlines_penalties(
    framework: str, mandatory: bool, deadline: str | None, penalties: dict[str | None, int]
) -> None:
    reqs = catalogue().requirements[framework]
    assert {r.mandatory for r in reqs} == {mandatory}
    assert {r.deadline for r in reqs} == {deadline}
    counted: dict[str | None, int] = {}
    for r in reqs:
        counted[r.penalty] = counted.get(r.penalty, 0) + 1
    assert counted == penalties


def test_disabled_features_open_gaps_in_order() -> None:
    result = analyze("eu_ai_act", disabled={"human_oversight", "audit_logging", "crypto_audit"})
    gaps = [g["requirement_id"] for g in result["gaps"]]
    assert gaps == ["EU-AI-ACT-ART-12", "EU-AI-ACT-ART-14", "EU-AI-ACT-ART-26"]
    assert (result["fully_covered"], result["partially_covered"], result["not_covered"]) == (0, 7, 3)
    assert result["coverage_score"] == 70.0
    assert list(result["gaps"][0]) == [
        "requirement_id",
        "title",
        "description",
        "category",
        "mandatory",
        "deadline",
        "penalty",
    ]
    recs = result["recommendations"]
    assert len(recs) == 6  # deadline, mandatory, disabled features, partial, framework advice, score band
    assert "3" in recs[0] and "EU-AI-ACT-ART-12" in recs[0] and "2026-08-02" in recs[0]
    assert "EU-AI-ACT-ART-12, EU-AI-ACT-ART-14, EU-AI-ACT-ART-26" in recs[1]
    assert "audit_logging, crypto_audit, human_oversight" in recs[2]
    assert "7" in recs[3] and "70%" in recs[5]


@pytest.mark.parametrize(
    ("disabled", "score", "band"),
    [
        (set(), 100.0, None),
        ({"policy_diff"}, 5 / 6 * 100, "83%"),  # SOC2-CC8.1 rests on policy_diff alone
        ({"policy_diff", "audit_logging"}, 4 / 6 * 100, "67%"),
        ({"policy_diff", "audit_logging", "policy_engine"}, 3 / 6 * 100, "50%"),
        ({"policy_diff", "audit_logging", "policy_engine", "rate_limiting"}, 2 / 6 * 100, "33%"),
    ],
)
def test_score_bands(disabled: set[str], score: float, band: str | None) -> None:
    result = analyze("soc2", disabled=disabled)
    assert result["coverage_score"] == score
    last = result["recommendations"][-1]
    if band is None:
        assert len(result["recommendations"]) == 3
    else:
        assert band in last
