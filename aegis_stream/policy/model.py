"""The policy data model and the evaluator that picks a decision for an action.

A :class:`Policy` is an ordered tuple of :class:`Rule` objects plus a default
risk level and approval. :meth:`Policy.evaluate` tries the rules in order and
the first one whose globs and conditions all match decides; if none does,
the defaults decide and the matched rule is reported as ``"<default>"``.

Globs are ``fnmatch`` patterns (``*``, ``?``, ``[seq]``, ``[!seq]``), matched
against the whole string, case-sensitively; ``*`` also matches ``/``. They
are compiled once, when the :class:`Policy` is built.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aegis_stream.errors import PolicyError
from aegis_stream.events import APPROVALS, RISK_LEVELS
from aegis_stream.policy.conditions import Check, EvalContext, compile_conditions

__all__ = ["DEFAULT_RULE", "Decision", "Policy", "Rule", "compile_glob"]

DEFAULT_RULE = "<default>"
_GLOB_MAGIC = re.compile(r"[*?\[]")
_EMPTY: Mapping[str, Any] = {}

GlobTest = Callable[[str], bool]


def _always(_text: str) -> bool:
    return True


def compile_glob(pattern: str) -> GlobTest:
    """Return a fast test for whether a string matches the glob ``pattern``.

    ``"*"`` always matches; a pattern without glob characters is compared
    for equality; anything else goes through :func:`fnmatch.translate`.
    """
    if pattern == "*":
        return _always
    if _GLOB_MAGIC.search(pattern) is None:
        return pattern.__eq__
    regex = re.compile(fnmatch.translate(pattern))
    return lambda text: regex.match(text) is not None


@dataclass(frozen=True, slots=True)
class Rule:
    """One policy rule: what it matches, extra conditions, and its verdict."""

    name: str | None
    match_type: str = "*"
    match_target: str = "*"
    match_agent: str = "*"
    conditions: dict[str, Any] | None = field(default_factory=dict)
    risk_level: str = "MEDIUM"
    approval: str = "approve"

    def __post_init__(self) -> None:
        what = f"rule {self.name!r}"
        for attr in ("match_type", "match_target", "match_agent"):
            if not isinstance(getattr(self, attr), str):
                raise PolicyError(f"{what}: {attr} must be a string glob, got {getattr(self, attr)!r}")
        _check_verdict(self.risk_level, self.approval, what)

    @property
    def label(self) -> str:
        """The name a decision reports: the rule name, or ``type@target`` if it is falsy."""
        return self.name or f"{self.match_type}@{self.match_target}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of evaluating one action against a policy."""

    risk_level: str
    approval: str
    matched_rule: str


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    type_test: GlobTest
    target_test: GlobTest
    agent_test: GlobTest | None  # None when the agent glob is "*"
    checks: tuple[Check, ...]
    decision: Decision


def _check_verdict(risk_level: str, approval: str, what: str) -> None:
    if risk_level not in RISK_LEVELS:
        raise PolicyError(f"{what}: risk level must be one of {', '.join(RISK_LEVELS)}, got {risk_level!r}")
    if approval not in APPROVALS:
        raise PolicyError(f"{what}: approval must be one of {', '.join(APPROVALS)}, got {approval!r}")


def _compile_rule(rule: Rule, where: str) -> _CompiledRule:
    return _CompiledRule(
        type_test=compile_glob(rule.match_type),
        target_test=compile_glob(rule.match_target),
        agent_test=None if rule.match_agent == "*" else compile_glob(rule.match_agent),
        checks=compile_conditions(rule.conditions, where),
        decision=Decision(rule.risk_level, rule.approval, rule.label),
    )


@dataclass(frozen=True, slots=True)
class Policy:
    """An ordered set of rules plus the verdict used when none of them matches.

    ``source`` (a path or ``"<string>"``) only names the policy in messages
    and is ignored by equality.
    """

    rules: tuple[Rule, ...] = ()
    default_risk_level: str = "MEDIUM"
    default_approval: str = "block"
    version: int = 1
    scope: str = "global"
    scope_id: str = ""
    source: str = field(default="<empty>", compare=False)
    _compiled: tuple[_CompiledRule, ...] = field(default=(), init=False, repr=False, compare=False)
    _default: Decision = field(
        default=Decision("MEDIUM", "block", DEFAULT_RULE), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        rules = tuple(self.rules)
        _check_verdict(self.default_risk_level, self.default_approval, f"{self.source}: defaults")
        compiled = tuple(
            _compile_rule(rule, f"{self.source} rule {i} ({rule.name!r})") for i, rule in enumerate(rules)
        )
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "_compiled", compiled)
        object.__setattr__(
            self, "_default", Decision(self.default_risk_level, self.default_approval, DEFAULT_RULE)
        )

    def evaluate(
        self,
        action_type: str,
        action_target: str,
        params: Mapping[str, Any] | None = None,
        description: str = "",
        agent_id: str | None = None,
        *,
        now: datetime,
    ) -> Decision:
        """Decide the risk level and approval for one action.

        Rules are tried in order and the first match wins. A rule matches
        when its type and target globs match, its agent glob (unless it is
        ``"*"``) matches ``agent_id`` (an empty or missing agent is tested as
        the literal ``"*"``), and all of its conditions hold. ``now`` is the
        evaluation time the time conditions use; pass an aware UTC datetime.
        """
        agent = agent_id or "*"
        context: EvalContext | None = None
        for rule in self._compiled:
            if not (rule.type_test(action_type) and rule.target_test(action_target)):
                continue
            if rule.agent_test is not None and not rule.agent_test(agent):
                continue
            if rule.checks:
                if context is None:
                    context = EvalContext(action_type, action_target, params or _EMPTY, description, now)
                if not all(check(context) for check in rule.checks):
                    continue
            return rule.decision
        return self._default
