"""The two grade tables of the reference. They differ below 70."""

from __future__ import annotations

_DASHBOARD = (
    (97, "A+"),
    (93, "A"),
    (90, "A-"),
    (87, "B+"),
    (83, "B"),
    (80, "B-"),
    (77, "C+"),
    (73, "C"),
    (70, "C-"),
    (60, "D"),
)
_COMPLIANCE = (
    (97, "A+"),
    (93, "A"),
    (90, "A-"),
    (87, "B+"),
    (83, "B"),
    (80, "B-"),
    (77, "C+"),
    (73, "C"),
    (70, "C-"),
    (67, "D+"),
    (63, "D"),
    (60, "D-"),
)


def _grade(score: float, table: tuple[tuple[int, str], ...]) -> str:
    for floor, grade in table:
        if score >= floor:
            return grade
    return "F"


def dashboard_grade(score: float) -> str:
    """Grade for policy/score and the badge."""
    return _grade(score, _DASHBOARD)


def compliance_grade(score: float) -> str:
    """Grade for compliance reports and overview's compliance_grade."""
    return _grade(score, _COMPLIANCE)
