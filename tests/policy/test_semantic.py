"""The semantic keyword matcher: categories, stop-words and tokenising."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from aegis_stream.policy import Policy, Rule
from aegis_stream.policy.semantic import CATEGORIES, STOP_WORDS, action_tokens, keywords_for

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)

# The category tables as the spec lists them, written out independently.
EXPECTED_CATEGORIES = {
    "destructive": {"delete", "drop", "remove", "destroy", "kill", "terminate", "truncate", "purge"},
    "data_exposure": {"export", "download", "share", "send", "email", "upload", "transfer", "leak", "expose"},
    "privileged": {"admin", "root", "sudo", "superuser", "escalate", "override", "bypass"},
    "financial": {"payment", "transfer", "refund", "charge", "invoice", "billing", "withdraw"},
    "pii": {"name", "email", "phone", "address", "ssn", "passport", "credit_card", "dob"},
}
EXPECTED_STOP_WORDS = {"or", "and", "the", "a", "an", "of", "in", "to", "for", "is", "with"}


def test_category_tables() -> None:
    assert {name: set(words) for name, words in CATEGORIES.items()} == EXPECTED_CATEGORIES
    assert set(STOP_WORDS) == EXPECTED_STOP_WORDS


@pytest.mark.parametrize(
    ("condition", "keywords"),
    [
        ("destructive", EXPECTED_CATEGORIES["destructive"]),
        ("  Destructive ", EXPECTED_CATEGORIES["destructive"]),
        ("data_exposure", EXPECTED_CATEGORIES["data_exposure"]),
        ("PII", EXPECTED_CATEGORIES["pii"]),
        ("refund or payment", {"refund", "payment"}),
        ("the delete of an admin", {"delete", "admin"}),
        ("privileged and financial", EXPECTED_CATEGORIES["privileged"] | EXPECTED_CATEGORIES["financial"]),
        ("wipe, destructive!", EXPECTED_CATEGORIES["destructive"] | {"wipe"}),
        ("credit_card", {"credit_card"}),
        ("Send-Email!", {"send", "email"}),
        ("drop_table", {"drop_table"}),
        ("and or the", set()),
        ("", set()),
        ("données", {"donn", "es"}),
    ],
)
def test_keywords_for(condition: str, keywords: set[str]) -> None:
    assert keywords_for(condition) == keywords


def test_action_tokens() -> None:
    tokens = action_tokens(
        "delete_user",
        "db/Users",
        "Drop the TABLE now",
        {"user_id": "Alice-Smith", "count": 5, "nested": {"x": "hidden"}, "tags": ["listed"]},
    )
    assert tokens == {
        "delete_user",
        "delete",
        "user",
        "db",
        "users",
        "drop",
        "the",
        "table",
        "now",
        "user_id",
        "id",
        "alice",
        "smith",
        "count",
        "nested",
        "tags",
    }


def test_action_tokens_double_underscores() -> None:
    assert action_tokens("__init__", "", "", {}) == {"__init__", "init"}


def _semantic(condition: str, action_type: str, target: str = "t", desc: str = "", **params: Any) -> bool:
    policy = Policy(
        rules=(Rule("sem", conditions={"semantic": condition}, risk_level="HIGH", approval="block"),)
    )
    return policy.evaluate(action_type, target, params, desc, now=NOW).matched_rule == "sem"


@pytest.mark.parametrize(
    ("category", "keyword"),
    [(category, keyword) for category, words in EXPECTED_CATEGORIES.items() for keyword in sorted(words)],
)
def test_every_category_keyword_matches(category: str, keyword: str) -> None:
    assert _semantic(category, "tool", target=keyword) is True
    assert _semantic(f"something {category}", "tool", target=keyword) is True


@pytest.mark.parametrize("category", sorted(EXPECTED_CATEGORIES))
def test_category_does_not_match_unrelated_action(category: str) -> None:
    assert _semantic(category, "read_report", target="reports/q3", desc="summarise it") is False


@pytest.mark.parametrize("stop_word", sorted(EXPECTED_STOP_WORDS))
def test_stop_words_never_match(stop_word: str) -> None:
    assert _semantic(stop_word, stop_word, target=stop_word, desc=stop_word) is False
    assert _semantic(f"{stop_word} purge", stop_word, target=stop_word) is False
    assert _semantic(f"{stop_word} purge", "purge", target=stop_word) is True


@pytest.mark.parametrize(
    ("condition", "action_type", "target", "desc", "params", "expected"),
    [
        ("destructive", "purge_cache", "t", "", {}, True),
        ("destructive", "purgeall", "t", "", {}, False),
        ("destructive", "DELETE", "t", "", {}, True),
        ("destructive", "tool", "t", "Please remove it.", {}, True),
        ("destructive", "tool", "t", "", {"mode": "kill"}, True),
        ("destructive", "tool", "t", "", {"kill": 1}, True),
        ("destructive", "tool", "t", "", {"mode": ["kill"]}, False),
        ("destructive", "tool", "t", "", {"opts": {"mode": "kill"}}, False),
        ("destructive", "tool", "t", "", {"n": 7}, False),
        ("destructive", "tool", "cache/drop-old", "", {}, True),
        ("pii", "tool", "t", "", {"credit_card": "4111"}, True),
        ("pii", "tool", "t", "", {"credit_card_number": "4111"}, False),
        ("pii", "get_user_name", "t", "", {}, True),
        ("financial", "issue_refund", "t", "", {}, True),
        ("refund or payment", "issue_refund", "t", "", {}, True),
        ("refund or payment", "issue_credit", "t", "", {}, False),
        ("drop_table", "drop_table", "t", "", {}, True),
        ("drop_table", "drop", "t", "", {}, False),
        ("sudo", "run", "t", "", {"cmd": "sudo reboot"}, True),
    ],
)
def test_semantic_condition(
    condition: str, action_type: str, target: str, desc: str, params: dict[str, Any], expected: bool
) -> None:
    assert _semantic(condition, action_type, target, desc, **params) is expected
