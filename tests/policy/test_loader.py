"""Loading policy YAML: the schema, its defaults, and every load error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from aegis_stream.errors import PolicyError
from aegis_stream.policy import Decision, Policy, Rule, load_policy, parse_policy

FULL = """
version: "3"
scope: tenant
scope_id: acme
defaults:
  risk_level: High
  approval: approve
rules:
  - name: reads
    match: {type: "read_*", target: "db/*", agent: "crm-*"}
    risk_level: low
    approval: auto
  - match: {type: delete}
    conditions: {param_eq: {env: prod}}
    risk_level: CRITICAL
    approval: block
  - name:
    match: {}
  - name: ""
    conditions:
plan_rules: {ignored: true}
"""


def test_full_document() -> None:
    policy = parse_policy(FULL)
    assert policy == Policy(
        rules=(
            Rule("reads", "read_*", "db/*", "crm-*", {}, "LOW", "auto"),
            Rule("rule_1", "delete", "*", "*", {"param_eq": {"env": "prod"}}, "CRITICAL", "block"),
            Rule(None, "*", "*", "*", {}, "MEDIUM", "approve"),
            Rule("", "*", "*", "*", None, "MEDIUM", "approve"),
        ),
        default_risk_level="HIGH",
        default_approval="approve",
        version=3,
        scope="tenant",
        scope_id="acme",
    )
    assert policy.source == "<string>"


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", "---\n", "null\n", "~"])
def test_empty_document_gives_empty_policy(text: str) -> None:
    policy = parse_policy(text, "empty.yaml")
    assert policy == Policy()
    assert policy.rules == ()
    assert (policy.default_risk_level, policy.default_approval) == ("MEDIUM", "block")
    assert (policy.version, policy.scope, policy.scope_id) == (1, "global", "")
    assert policy.source == "empty.yaml"


def test_default_source_of_constructed_policy() -> None:
    assert Policy().source == "<empty>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n", ()),
        ("rules: []\n", ()),
        ("defaults: {}\n", ()),
        ("rules:\n  - {}\n", (Rule("rule_0"),)),
        ("rules:\n  - {}\n  - {}\n  - {name: x}\n", (Rule("rule_0"), Rule("rule_1"), Rule("x"))),
        ("rules:\n  - {name: null}\n", (Rule(None),)),
        ("rules:\n  - {name: ''}\n", (Rule(""),)),
        ("rules:\n  - {conditions: null}\n", (Rule("rule_0", conditions=None),)),
        ("rules:\n  - {conditions: {}}\n", (Rule("rule_0", conditions={}),)),
        ("rules:\n  - {match: {target: 'a/*'}}\n", (Rule("rule_0", match_target="a/*"),)),
        ("rules:\n  - {match: {agent: 'bot?'}}\n", (Rule("rule_0", match_agent="bot?"),)),
        ("rules:\n  - {risk_level: lOw}\n", (Rule("rule_0", risk_level="LOW"),)),
        (
            "rules:\n  - {risk_level: critical, approval: block}\n",
            (Rule("rule_0", risk_level="CRITICAL", approval="block"),),
        ),
    ],
)
def test_rule_fields_and_defaults(text: str, expected: tuple[Rule, ...]) -> None:
    assert parse_policy(text).rules == expected


def test_rule_defaults_spelled_out() -> None:
    (rule,) = parse_policy("rules: [{}]").rules
    assert rule.name == "rule_0"
    assert (rule.match_type, rule.match_target, rule.match_agent) == ("*", "*", "*")
    assert rule.conditions == {}
    assert (rule.risk_level, rule.approval) == ("MEDIUM", "approve")


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("", 1),
        ("scope: x", 1),
        ("version: 1", 1),
        ("version: '1'", 1),
        ("version: ' 2 '", 2),
        ("version: 7", 7),
        ("version: 2.0", 2),
    ],
)
def test_version(text: str, version: int) -> None:
    assert parse_policy(text).version == version


# Each case: YAML text, then fragments the message must contain.
LOAD_ERRORS = [
    ("- a\n- b\n", ["src.yaml", "must be a mapping", "list"]),
    ("just a string\n", ["src.yaml", "must be a mapping", "str"]),
    ("42\n", ["src.yaml", "must be a mapping", "int"]),
    ("rules: {a: 1}\n", ["src.yaml", "'rules' must be a list", "dict"]),
    ("rules: oops\n", ["src.yaml", "'rules' must be a list", "str"]),
    ("rules:\n  - just text\n", ["src.yaml", "rule 0", "rule must be a mapping", "str"]),
    ("rules:\n  - {}\n  - null\n", ["src.yaml", "rule 1", "rule must be a mapping", "null"]),
    ("rules:\n  - [1, 2]\n", ["src.yaml", "rule 0", "rule must be a mapping", "list"]),
    (
        "rules:\n  - {name: x, risk_level: severe}\n",
        ["src.yaml", "rule 0 ('x')", "unknown risk level 'severe'"],
    ),
    ("rules:\n  - {risk_level: 3}\n", ["src.yaml", "rule 0 ('rule_0')", "unknown risk level 3"]),
    ("rules:\n  - {risk_level: null}\n", ["src.yaml", "rule 0", "unknown risk level None"]),
    ("rules:\n  - {name: u, approval: AUTO}\n", ["src.yaml", "rule 0 ('u')", "unknown approval 'AUTO'"]),
    ("rules:\n  - {approval: Block}\n", ["src.yaml", "unknown approval 'Block'"]),
    ("rules:\n  - {approval: deny}\n", ["src.yaml", "unknown approval 'deny'"]),
    ("rules:\n  - {approval: yes}\n", ["src.yaml", "unknown approval True"]),
    (
        "rules:\n  - {}\n  - {name: m, match: null}\n",
        ["src.yaml", "rule 1 ('m')", "'match' must be a mapping", "null"],
    ),
    ("rules:\n  - {match: delete_*}\n", ["src.yaml", "rule 0", "'match' must be a mapping", "str"]),
    ("rules:\n  - {match: [a]}\n", ["src.yaml", "'match' must be a mapping", "list"]),
    ("rules:\n  - {match: {type: 5}}\n", ["src.yaml", "rule 0", "match.type must be a string", "int"]),
    ("rules:\n  - {match: {target: null}}\n", ["src.yaml", "match.target must be a string", "null"]),
    ("rules:\n  - {match: {agent: [a]}}\n", ["src.yaml", "match.agent must be a string", "list"]),
    (
        "rules:\n  - {name: c, conditions: [a]}\n",
        ["src.yaml", "rule 0 ('c')", "'conditions' must be a mapping or null"],
    ),
    ("rules:\n  - {conditions: semantic}\n", ["src.yaml", "'conditions' must be a mapping or null", "str"]),
    ("rules:\n  - {name: 7}\n", ["src.yaml", "rule 0", "name must be a string or null", "int"]),
    ("defaults: {risk_level: extreme}\n", ["src.yaml", "defaults", "unknown risk level 'extreme'"]),
    ("defaults: {approval: Approve}\n", ["src.yaml", "defaults", "unknown approval 'Approve'"]),
    ("defaults: [medium]\n", ["src.yaml", "'defaults' must be a mapping", "list"]),
    ("defaults:\n", ["src.yaml", "'defaults' must be a mapping", "null"]),
    ("version: '1.0'\n", ["src.yaml", "version must be a whole number", "'1.0'"]),
    ("version: 1.5\n", ["src.yaml", "version must be a whole number", "1.5"]),
    ("version: one\n", ["src.yaml", "version must be a whole number", "'one'"]),
    ("version: null\n", ["src.yaml", "version must be a whole number", "None"]),
    ("version: true\n", ["src.yaml", "version must be a whole number", "True"]),
    ("version: [1]\n", ["src.yaml", "version must be a whole number"]),
    ("scope: 5\n", ["src.yaml", "scope must be a string", "int"]),
    ("scope_id: 123\n", ["src.yaml", "scope_id must be a string", "int"]),
]


@pytest.mark.parametrize(("text", "fragments"), LOAD_ERRORS)
def test_load_errors(text: str, fragments: list[str]) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "src.yaml")
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("rules: [\n", 2),
        ("version: 1\nrules:\n  - name: a\n   bad: indent\n", 4),
        ("a: 1\n\tb: 2\n", 2),
        ("version: 1\nscope: 'open\n", 3),
        ("a: 1\na: 2\n---\nb: 3\n", 3),
    ],
)
def test_yaml_syntax_error_names_line(text: str, line: int) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "bad.yaml")
    message = str(info.value)
    assert message.startswith(f"bad.yaml, line {line}: invalid YAML")
    assert isinstance(info.value.__cause__, yaml.YAMLError)


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['echo hi']\n",
        "rules:\n  - name: !!python/name:os.system\n",
        "version: !!python/tuple [1]\n",
        "defaults: !!python/object:builtins.dict {}\n",
    ],
)
def test_python_tags_are_refused(text: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "evil.yaml")
    message = str(info.value)
    assert message.startswith("evil.yaml, line ")
    assert "python tags" in message
    assert "refused" in message
    assert isinstance(info.value.__cause__, yaml.YAMLError)


def test_other_unknown_tag_is_a_yaml_error() -> None:
    with pytest.raises(PolicyError, match=r"^t\.yaml, line 1: invalid YAML: .*'!custom'"):
        parse_policy("x: !custom 1\n", "t.yaml")


def test_load_policy_from_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("rules:\n  - {name: r, match: {type: x}, risk_level: low, approval: auto}\n", "utf-8")
    for given in (path, str(path)):
        policy = load_policy(given)
        assert policy.rules == (Rule("r", "x", risk_level="LOW", approval="auto"),)
        assert policy.source == str(path)


def test_load_policy_errors_name_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {approval: AUTO}\n", "utf-8")
    with pytest.raises(PolicyError, match=f"^{bad}: rule 0"):
        load_policy(bad)


def test_load_policy_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError, match="cannot read policy file") as info:
        load_policy(missing)
    assert str(missing) in str(info.value)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_load_policy_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path)


def test_load_policy_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("rules: []\n", "utf-8")

    def deny(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", deny)
    with pytest.raises(PolicyError, match="cannot read policy file: Permission denied") as info:
        load_policy(path)
    assert str(info.value).startswith(str(path))


def test_load_policy_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"scope: caf\xe9\n")
    with pytest.raises(PolicyError, match="not valid UTF-8"):
        load_policy(path)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "r", "risk_level": "low"}, "risk level must be one of LOW, MEDIUM, HIGH, CRITICAL"),
        ({"name": "r", "approval": "AUTO"}, "approval must be one of auto, approve, block"),
        ({"name": "r", "match_type": None}, "match_type must be a string"),
        ({"name": "r", "match_agent": 3}, "match_agent must be a string"),
    ],
)
def test_constructed_rule_is_validated(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(PolicyError, match=fragment):
        Rule(**kwargs)  # type: ignore[arg-type]


def test_constructed_policy_defaults_are_validated() -> None:
    with pytest.raises(PolicyError, match="risk level must be one of"):
        Policy(default_risk_level="medium")
    with pytest.raises(PolicyError, match="approval must be one of"):
        Policy(default_approval="deny")


def test_policy_equality_ignores_source() -> None:
    assert parse_policy("rules: []", "a.yaml") == parse_policy("", "b.yaml")


# --- unknown keys ---------------------------------------------------------------------------

TYPO_POLICY = """
defaults:
  risk_level: medium
  approval: block
rules:
  - name: lookups
    matches:
      type: "get_*"
    risk_level: low
    approval: auto
"""

RULE_KEYS = "expected keys: name, match, conditions, risk_level, approval, description"
MATCH_KEYS = "expected keys: type, target, agent"
DEFAULTS_KEYS = "expected keys: risk_level, approval"
TOP_KEYS = "expected keys: version, scope, scope_id, defaults, rules, plan_rules"


def test_misspelt_match_is_refused_instead_of_matching_everything() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(TYPO_POLICY, "airline.yaml")
    assert str(info.value) == (
        "airline.yaml: rule 0 ('lookups'): unknown key 'matches' (did you mean 'match'?); " + RULE_KEYS
    )
    # Spelt correctly, the rule only covers get_* and delete_account falls to the defaults.
    fixed = parse_policy(TYPO_POLICY.replace("matches:", "match:"), "airline.yaml")
    now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    assert fixed.evaluate("get_user_details", "u1", now=now) == Decision("LOW", "auto", "lookups")
    assert fixed.evaluate("delete_account", "u1", now=now) == Decision("MEDIUM", "block", "<default>")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rules:\n  - {name: a}\n  - {name: b, risk: high}\n",
            "src.yaml: rule 1 ('b'): unknown key 'risk'; " + RULE_KEYS,
        ),
        (
            "rules:\n  - {aproval: auto}\n",
            "src.yaml: rule 0 ('rule_0'): unknown key 'aproval' (did you mean 'approval'?); " + RULE_KEYS,
        ),
        (
            "rules:\n  - {name: null, condition: {}, 7: x}\n",
            "src.yaml: rule 0 (None): unknown keys 'condition', 7"
            " (did you mean 'conditions' for 'condition'?); " + RULE_KEYS,
        ),
        (
            "rules:\n  - {name: m, match: {type: x, targets: 'db/*'}}\n",
            "src.yaml: rule 0 ('m'): unknown key 'targets' in 'match' (did you mean 'target'?); "
            + MATCH_KEYS,
        ),
        (
            "rules:\n  - {match: {agent_id: bot, action: x}}\n",
            "src.yaml: rule 0 ('rule_0'): unknown keys 'agent_id', 'action' in 'match'"
            " (did you mean 'agent' for 'agent_id'?); " + MATCH_KEYS,
        ),
        (
            "defaults: {risk_level: low, approve: auto}\n",
            "src.yaml: unknown key 'approve' in 'defaults' (did you mean 'approval'?); " + DEFAULTS_KEYS,
        ),
        (
            "defaults: {name: x}\n",
            "src.yaml: unknown key 'name' in 'defaults'; " + DEFAULTS_KEYS,
        ),
        (
            "rule:\n  - {name: a}\n",
            "src.yaml: unknown key 'rule' at the top level (did you mean 'rules'?); " + TOP_KEYS,
        ),
        (
            "version: 1\ndescription: airline\nowner: ops\n",
            "src.yaml: unknown keys 'description', 'owner' at the top level; " + TOP_KEYS,
        ),
    ],
)
def test_unknown_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "src.yaml")
    assert str(info.value) == message


def test_unknown_key_error_from_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("rules:\n  - {name: r, matches: {type: x}}\n", "utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert str(info.value).startswith(f"{path}: rule 0 ('r'): unknown key 'matches'")


def test_every_known_key_is_accepted() -> None:
    text = """
version: 2
scope: tenant
scope_id: acme
defaults: {risk_level: high, approval: approve}
rules:
  - name: r
    description: Reads of the orders table are harmless.
    match: {type: read, target: orders, agent: bot}
    conditions: {}
    risk_level: low
    approval: auto
plan_rules: {max_cumulative_risk: 10}
"""
    policy = parse_policy(text)
    assert policy.rules == (Rule("r", "read", "orders", "bot", {}, "LOW", "auto"),)
    assert (policy.default_risk_level, policy.default_approval) == ("HIGH", "approve")


@pytest.mark.parametrize("description", ["free text", "", "null", "42", "[a, b]"])
def test_rule_description_is_free_text_and_ignored(description: str) -> None:
    policy = parse_policy(f"rules:\n  - {{name: r, description: {description}, match: {{type: x}}}}\n")
    assert policy.rules == (Rule("r", "x"),)
