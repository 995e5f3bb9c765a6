"""Rule conditions: compiled once at load time, checked on every evaluation.

A rule's ``conditions`` mapping is turned into a tuple of small check
functions by :func:`compile_conditions`; the rule's conditions hold when
every check returns true. Everything here fails closed: a malformed value,
an unknown key, a missing or ``None`` param, or a ``TypeError`` while
comparing makes that check false. Malformed values and unknown keys are
reported with one warning each, when the policy is loaded.

Time checks use the ``now`` handed to :meth:`Policy.evaluate`, seen in UTC.

``param_matches`` regexes come from the policy author but the text they
search comes from the agent, so a pattern prone to catastrophic
backtracking could stall evaluation. They are therefore compiled with the
third-party :mod:`regex` module (``re``-compatible syntax) and every search
is cut off after :data:`MATCH_TIMEOUT` seconds; a search that times out
fails closed and is logged once per pattern.
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time
from typing import Any

import regex

from aegis_stream.policy import semantic

__all__ = ["MATCH_TIMEOUT", "MAX_PATTERN", "MAX_SUBJECT", "Check", "EvalContext", "compile_conditions"]

log = logging.getLogger(__name__)

MAX_PATTERN = 1000  # longest accepted param_matches regex, in characters
MAX_SUBJECT = 10_000  # param_matches searches at most this many characters
MATCH_TIMEOUT = 0.1  # seconds one param_matches search may run before it fails closed
_HH_MM = re.compile(r"(\d{1,2}):(\d{2})")

_COMPARISONS: Mapping[str, Callable[[Any, Any], Any]] = {
    "param_eq": operator.eq,
    "param_gt": operator.gt,
    "param_lt": operator.lt,
    "param_gte": operator.ge,
    "param_lte": operator.le,
    "param_contains": lambda actual, expected: expected in actual,
}


class EvalContext:
    """What the checks see of one action; the semantic tokens are built lazily."""

    __slots__ = ("_tokens", "action_target", "action_type", "description", "now", "params")

    def __init__(
        self,
        action_type: str,
        action_target: str,
        params: Mapping[str, Any],
        description: str,
        now: datetime,
    ) -> None:
        self.action_type = action_type
        self.action_target = action_target
        self.params = params
        self.description = description
        self.now = now
        self._tokens: frozenset[str] | None = None

    def tokens(self) -> frozenset[str]:
        """The action's semantic tokens, computed on first use."""
        if self._tokens is None:
            self._tokens = semantic.action_tokens(
                self.action_type, self.action_target, self.description, self.params
            )
        return self._tokens

    def utc_time(self) -> time:
        """Wall-clock time of ``now`` in UTC (a naive ``now`` is taken as UTC)."""
        moment = self.now if self.now.tzinfo is None else self.now.astimezone(UTC)
        return moment.time()


Check = Callable[[EvalContext], bool]


def _never(_ctx: EvalContext) -> bool:
    return False


def _parse_hh_mm(value: Any) -> time | None:
    if not isinstance(value, str):
        return None
    found = _HH_MM.fullmatch(value.strip())
    if found is None:
        return None
    hour, minute = int(found.group(1)), int(found.group(2))
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _time_check(key: str, value: Any) -> Check | str:
    bound = _parse_hh_mm(value)
    if bound is None:
        hint = " (quote it: unquoted HH:MM is read by YAML as a number)" if isinstance(value, int) else ""
        return f'expected a "HH:MM" string, got {value!r}{hint}'
    if key == "time_after":
        return lambda ctx: ctx.utc_time() >= bound
    return lambda ctx: ctx.utc_time() < bound


def _weekdays_check(value: Any) -> Check | str:
    if not isinstance(value, list):
        return f"expected a list of ISO weekday numbers (Mon=1 .. Sun=7), got {value!r}"
    days = tuple(value)
    return lambda ctx: ctx.now.isoweekday() in days


def _param_check(key: str, value: Any) -> Check | str:
    if not isinstance(value, Mapping):
        return f"expected a mapping of param name to value, got {value!r}"
    compare = _COMPARISONS[key]
    pairs = tuple(value.items())

    def check(ctx: EvalContext) -> bool:
        for name, expected in pairs:
            actual = ctx.params.get(name)
            if actual is None:
                return False
            try:
                if not compare(actual, expected):
                    return False
            except TypeError:
                return False
        return True

    return check


class _ParamRegex:
    """One ``param_matches`` entry: a param name and its regex, searched with a time limit.

    A search that runs longer than :data:`MATCH_TIMEOUT` seconds is abandoned
    and counts as no match. The first timeout is logged as a warning; later
    ones for the same entry are not, so a hostile input repeated on every
    action cannot flood the log.
    """

    __slots__ = ("name", "pattern", "warned", "where")

    def __init__(self, name: Any, pattern: regex.Pattern[str], where: str) -> None:
        self.name = name
        self.pattern = pattern
        self.where = where
        self.warned = False

    def holds(self, params: Mapping[str, Any]) -> bool:
        actual = params.get(self.name)
        if actual is None:
            return False
        try:
            return self.pattern.search(str(actual)[:MAX_SUBJECT], timeout=MATCH_TIMEOUT) is not None
        except TimeoutError:
            if not self.warned:
                self.warned = True
                log.warning(
                    "%s: param_matches regex %r for param %r timed out after %ss and fails closed"
                    " (further timeouts of this regex are not logged)",
                    self.where,
                    self.pattern.pattern,
                    self.name,
                    MATCH_TIMEOUT,
                )
            return False


def _matches_check(value: Any, where: str) -> Check | str:
    if not isinstance(value, Mapping):
        return f"expected a mapping of param name to regex, got {value!r}"
    compiled: list[_ParamRegex] = []
    for name, pattern in value.items():
        if not isinstance(pattern, str):
            return f"regex for param {name!r} is not a string: {pattern!r}"
        if len(pattern) > MAX_PATTERN:
            return f"regex for param {name!r} is longer than {MAX_PATTERN} characters"
        try:
            compiled.append(_ParamRegex(name, regex.compile(pattern), where))
        except regex.error as e:
            return f"regex for param {name!r} is invalid: {e}"
    entries = tuple(compiled)

    def check(ctx: EvalContext) -> bool:
        return all(entry.holds(ctx.params) for entry in entries)

    return check


def _semantic_check(value: Any) -> Check | str:
    if not isinstance(value, str):
        return f"expected a string, got {value!r}"
    keywords = semantic.keywords_for(value)
    if not keywords:
        return f"{value!r} contains no keywords"
    return lambda ctx: semantic.matches(keywords, ctx.tokens())


def _compile_one(key: Any, value: Any, where: str) -> Check | str:
    """Return a check, or a string explaining why the entry can never hold."""
    if key in ("time_after", "time_before"):
        return _time_check(key, value)
    if key == "weekdays":
        return _weekdays_check(value)
    if key in _COMPARISONS:
        return _param_check(key, value)
    if key == "param_matches":
        return _matches_check(value, where)
    if key == "semantic":
        return _semantic_check(value)
    return "unknown condition key; it never holds"


def compile_conditions(conditions: Mapping[Any, Any] | None, where: str) -> tuple[Check, ...]:
    """Compile a rule's ``conditions`` mapping into checks that must all hold.

    ``where`` names the rule in warnings (for example ``"p.yaml rule 2 'x'"``).
    An entry that is malformed or has an unknown key becomes a check that
    is always false, and one warning is logged for it here, not per call.
    ``None`` or an empty mapping gives no checks, so the rule's conditions
    always hold.
    """
    if not conditions:
        return ()
    checks: list[Check] = []
    for key, value in conditions.items():
        result = _compile_one(key, value, where)
        if isinstance(result, str):
            log.warning("%s: condition %r fails closed: %s", where, key, result)
            checks.append(_never)
        else:
            checks.append(result)
    return tuple(checks)
