"""Regulatory gap analysis: which requirements of a framework aegis-stream's features cover.

The catalogue is data (``aegis_stream/data/regulatory.yaml``), read once on
first use. The analysis is pure: with every feature enabled, as the
dashboard has them, each framework is covered at least partially.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import yaml

from aegis_stream.bundled import data_file

# Framework ids in the reference's order (its error message lists them so).
FRAMEWORKS = ("eu_ai_act", "nist_ai_rmf", "soc2", "iso_42001", "owasp_agentic")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One requirement of a framework, with the features that cover it (``feature -> full|partial``)."""

    requirement_id: str
    title: str
    description: str
    category: str
    mandatory: bool
    deadline: str | None
    penalty: str | None
    features: dict[str, str]

    def gap(self) -> dict[str, Any]:
        """The requirement as a gap entry of the API."""
        return {
            "requirement_id": self.requirement_id,
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "mandatory": self.mandatory,
            "deadline": self.deadline,
            "penalty": self.penalty,
        }


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every framework's requirements and advice, and the known features."""

    features: tuple[str, ...]
    requirements: dict[str, tuple[Requirement, ...]]
    advice: dict[str, str]


@functools.cache
def catalogue() -> Catalogue:
    """The bundled catalogue (parsed once)."""
    data = yaml.safe_load(data_file("regulatory.yaml").read_text("utf-8"))
    requirements: dict[str, tuple[Requirement, ...]] = {}
    advice: dict[str, str] = {}
    for name, framework in data["frameworks"].items():
        defaults = framework.get("defaults", {})
        advice[name] = " ".join(framework["advice"].split())
        requirements[name] = tuple(
            Requirement(
                requirement_id=raw["id"],
                title=raw["title"],
                description=raw["description"],
                category=raw["category"],
                mandatory=bool(raw.get("mandatory", defaults.get("mandatory", False))),
                deadline=raw.get("deadline", defaults.get("deadline")),
                penalty=raw.get("penalty", defaults.get("penalty")),
                features=dict(raw["features"]),
            )
            for raw in framework["requirements"]
        )
    return Catalogue(tuple(data["features"]), requirements, advice)


def analyze(framework: str, disabled: Collection[str] = ()) -> dict[str, Any]:
    """Coverage of ``framework`` with every feature but ``disabled`` on, in the reference's key order."""
    cat = catalogue()
    requirements = cat.requirements[framework]
    full = partial = 0
    gaps: list[Requirement] = []
    for req in requirements:
        levels = [level for feature, level in req.features.items() if feature not in disabled]
        if not levels:
            gaps.append(req)
        elif "full" in levels:
            full += 1
        else:
            partial += 1
    total = len(requirements)
    score = (full + partial) / total * 100.0 if total else 0.0
    return {
        "framework": framework,
        "total_requirements": total,
        "fully_covered": full,
        "partially_covered": partial,
        "not_covered": len(gaps),
        "coverage_score": score,
        "gaps": [req.gap() for req in gaps],
        "recommendations": _recommendations(
            framework, gaps=gaps, partial=partial, score=score, disabled=disabled, cat=cat
        ),
    }


def _recommendations(
    framework: str,
    *,
    gaps: list[Requirement],
    partial: int,
    score: float,
    disabled: Collection[str],
    cat: Catalogue,
) -> list[str]:
    out = []
    dated = [g for g in gaps if g.deadline]
    if dated:
        first = min(dated, key=lambda g: g.deadline or "")
        out.append(
            f"Urgent: {len(dated)} uncovered requirement(s) have a legal deadline, the first being "
            f"{first.requirement_id} on {first.deadline}."
        )
    mandatory = [g.requirement_id for g in gaps if g.mandatory]
    if mandatory:
        out.append(f"{len(mandatory)} mandatory requirement(s) are not covered: {', '.join(mandatory)}.")
    off = sorted(f for f in cat.features if f in disabled)
    if off:
        out.append(f"Turning on these features would close gaps: {', '.join(off)}.")
    if partial:
        out.append(
            f"{partial} requirement(s) are only partly covered by aegis; "
            "organisational processes have to supply the rest."
        )
    out.append(cat.advice[framework])
    if score == 100:
        out.append("Every requirement is covered at least in part; work next on the partial ones.")
    elif score >= 80:
        out.append(f"Coverage is {score:.0f}%: close the remaining gaps.")
    elif score >= 50:
        out.append(
            f"Coverage is {score:.0f}%, with significant gaps: start with mandatory requirements "
            "that have deadlines."
        )
    else:
        out.append(f"Coverage is {score:.0f}%: this framework needs comprehensive work.")
    return out
