"""Reading policy YAML into a :class:`~aegis_stream.policy.model.Policy`.

The accepted schema::

    version: 1               # anything int() accepts, except "1.0"-style strings
    scope: global            # default "global"
    scope_id: ""             # default ""
    defaults:
      risk_level: medium     # LOW/MEDIUM/HIGH/CRITICAL, any case; default medium
      approval: block        # auto/approve/block, lower case only; default block
    rules:                   # a list; missing or null means no rules
      - name: read_ops       # default "rule_<i>" (0-based); null and "" are kept
        match: {type: "read_*", target: "*", agent: "*"}   # globs, default "*"
        conditions: {...}    # see conditions.py; default {}, null kept
        risk_level: low      # default medium
        approval: auto       # default approve
        description: ...     # free text, ignored
    plan_rules: {...}        # accepted and ignored

Unknown keys are refused, at the top level, in ``defaults``, in a rule and
in its ``match``: a misspelt key would otherwise be dropped silently, and a
rule whose ``match`` is lost matches every action. Every problem raises
:class:`~aegis_stream.errors.PolicyError` with a message naming the source
and, where it applies, the rule's index and name. YAML is read with
``yaml.safe_load``, so ``!!python/...`` tags are refused.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from aegis_stream.errors import PolicyError
from aegis_stream.events import APPROVALS, RISK_LEVELS
from aegis_stream.policy.model import Policy, Rule

__all__ = ["load_policy", "parse_policy"]

_MISSING: Any = object()

# The keys each mapping may have; anything else is refused by _check_keys.
_TOP_KEYS = ("version", "scope", "scope_id", "defaults", "rules", "plan_rules")
_DEFAULTS_KEYS = ("risk_level", "approval")
_RULE_KEYS = ("name", "match", "conditions", "risk_level", "approval", "description")
_MATCH_KEYS = ("type", "target", "agent")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _yaml_error(source: str, e: yaml.YAMLError) -> PolicyError:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"{source}, line {mark.line + 1}" if mark is not None else source
    problem = getattr(e, "problem", None) or str(e)
    if isinstance(e, yaml.constructor.ConstructorError) and "python/" in problem:
        return PolicyError(f"{where}: python tags (!!python/...) are refused in policy files: {problem}")
    if isinstance(e, yaml.MarkedYAMLError):
        context = f"{e.context}: " if e.context else ""
        return PolicyError(f"{where}: invalid YAML: {context}{problem}")
    return PolicyError(f"{where}: invalid YAML: {e}")


def _check_keys(mapping: Mapping[Any, Any], known: tuple[str, ...], what: str, place: str) -> None:
    """Raise :class:`PolicyError` if ``mapping`` has a key outside ``known``.

    ``what`` names the source and rule, ``place`` the mapping within it
    (for example ``" in 'match'"``, or ``""`` for the rule itself). The
    message lists every unknown key, suggests a close known key where there
    is one, and lists the expected keys.
    """
    unknown = [key for key in mapping if key not in known]
    if not unknown:
        return
    close = {
        key: found[0]
        for key in unknown
        if isinstance(key, str) and (found := difflib.get_close_matches(key, known, n=1))
    }
    if len(unknown) == 1 and close:
        hint = f" (did you mean {next(iter(close.values()))!r}?)"
    elif close:
        hint = " (did you mean " + ", ".join(f"{v!r} for {k!r}" for k, v in close.items()) + "?)"
    else:
        hint = ""
    plural = "s" if len(unknown) > 1 else ""
    listed = ", ".join(repr(key) for key in unknown)
    raise PolicyError(f"{what}: unknown key{plural} {listed}{place}{hint}; expected keys: {', '.join(known)}")


def _risk(value: Any, what: str) -> str:
    name = value.upper() if isinstance(value, str) else None
    if name not in RISK_LEVELS:
        raise PolicyError(
            f"{what}: unknown risk level {value!r} (expected one of {', '.join(RISK_LEVELS)}, any case)"
        )
    return str(name)


def _approval(value: Any, what: str) -> str:
    if value not in APPROVALS:
        raise PolicyError(
            f"{what}: unknown approval {value!r} (expected one of {', '.join(APPROVALS)}, lower case)"
        )
    return str(value)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(f"{what} must be a string, got {_kind(value)} {value!r}")
    return value


def _version(value: Any, source: str) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise PolicyError(f"{source}: version must be a whole number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise PolicyError(f"{source}: version must be a whole number, got {value!r}") from e


def _parse_match(raw: Mapping[Any, Any], what: str) -> dict[str, str]:
    match = raw.get("match", _MISSING)
    if match is _MISSING:
        return {}
    if not isinstance(match, Mapping):
        raise PolicyError(f"{what}: 'match' must be a mapping, got {_kind(match)}")
    _check_keys(match, _MATCH_KEYS, what, " in 'match'")
    globs: dict[str, str] = {}
    for key in ("type", "target", "agent"):
        if key in match:
            globs[f"match_{key}"] = _text(match[key], f"{what}: match.{key}")
    return globs


def _parse_rule(raw: Any, index: int, source: str) -> Rule:
    what = f"{source}: rule {index}"
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{what}: a rule must be a mapping, got {_kind(raw)}")
    name = raw.get("name", f"rule_{index}")
    if name is not None and not isinstance(name, str):
        raise PolicyError(f"{what}: name must be a string or null, got {_kind(name)} {name!r}")
    what = f"{what} ({name!r})"
    _check_keys(raw, _RULE_KEYS, what, "")
    conditions = raw.get("conditions", {})
    if conditions is not None and not isinstance(conditions, Mapping):
        raise PolicyError(f"{what}: 'conditions' must be a mapping or null, got {_kind(conditions)}")
    return Rule(
        name=name,
        conditions=None if conditions is None else dict(conditions),
        risk_level=_risk(raw.get("risk_level", "medium"), what),
        approval=_approval(raw.get("approval", "approve"), what),
        **_parse_match(raw, what),
    )


def _build(data: Mapping[Any, Any], source: str) -> Policy:
    _check_keys(data, _TOP_KEYS, source, " at the top level")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, Mapping):
        raise PolicyError(f"{source}: 'defaults' must be a mapping, got {_kind(defaults)}")
    _check_keys(defaults, _DEFAULTS_KEYS, source, " in 'defaults'")
    raw_rules = data.get("rules")
    if raw_rules is None:
        raw_rules = []
    if not isinstance(raw_rules, list):
        raise PolicyError(f"{source}: 'rules' must be a list, got {_kind(raw_rules)}")
    return Policy(
        rules=tuple(_parse_rule(raw, i, source) for i, raw in enumerate(raw_rules)),
        default_risk_level=_risk(defaults.get("risk_level", "medium"), f"{source}: defaults"),
        default_approval=_approval(defaults.get("approval", "block"), f"{source}: defaults"),
        version=_version(data.get("version", 1), source),
        scope=_text(data.get("scope", "global"), f"{source}: scope"),
        scope_id=_text(data.get("scope_id", ""), f"{source}: scope_id"),
        source=source,
    )


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """Parse policy YAML text; ``source`` names it in error messages.

    An empty document gives the empty policy (no rules, MEDIUM/block).
    Raises :class:`PolicyError` for invalid YAML (with the line number),
    refused ``!!python`` tags and anything that is not a valid policy.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise _yaml_error(source, e) from e
    if data is None:
        return Policy(source=source)
    if not isinstance(data, Mapping):
        raise PolicyError(f"{source}: a policy document must be a mapping, got {_kind(data)}")
    return _build(data, source)


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and parse the policy file at ``path`` (UTF-8).

    Raises :class:`PolicyError` when the file is missing, unreadable, not
    UTF-8, or not a valid policy; the message names the path.
    """
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"{source}: cannot read policy file: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise PolicyError(f"{source}: policy file is not valid UTF-8: {e.reason}") from e
    return parse_policy(text, source)
