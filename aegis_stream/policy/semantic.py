"""The built-in keyword matcher behind the ``semantic`` rule condition.

A ``semantic`` condition is a short phrase such as ``"destructive"`` or
``"refund or payment"``. It is turned into a set of keywords once, when the
policy loads (:func:`keywords_for`). At evaluation time the action's type,
target, description, param keys and string param values are broken into
tokens (:func:`action_tokens`) and the condition holds when any keyword is
one of those tokens (:func:`matches`).

Tokenising means: lower-case the text and take every run of ``[a-z0-9_]``.
For the action text, a token with underscores also contributes each of its
underscore-separated parts, so ``delete_user`` yields ``delete_user``,
``delete`` and ``user``. Keywords are *not* split that way, which is what
lets ``credit_card`` stay a single keyword.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "CATEGORIES",
    "STOP_WORDS",
    "action_tokens",
    "keywords_for",
    "matches",
    "tokenize",
]

_WORD = re.compile(r"[a-z0-9_]+")

#: Named keyword sets; a category name inside a condition expands to its set.
CATEGORIES: Mapping[str, frozenset[str]] = {
    "destructive": frozenset(
        {"delete", "drop", "remove", "destroy", "kill", "terminate", "truncate", "purge"}
    ),
    "data_exposure": frozenset(
        {"export", "download", "share", "send", "email", "upload", "transfer", "leak", "expose"}
    ),
    "privileged": frozenset({"admin", "root", "sudo", "superuser", "escalate", "override", "bypass"}),
    "financial": frozenset({"payment", "transfer", "refund", "charge", "invoice", "billing", "withdraw"}),
    "pii": frozenset({"name", "email", "phone", "address", "ssn", "passport", "credit_card", "dob"}),
}

#: Filler words dropped from a condition phrase before it becomes keywords.
STOP_WORDS: frozenset[str] = frozenset({"or", "and", "the", "a", "an", "of", "in", "to", "for", "is", "with"})


def tokenize(text: str) -> list[str]:
    """Return the lower-cased ``[a-z0-9_]+`` runs of ``text``, in order."""
    return _WORD.findall(text.lower())


def keywords_for(condition: str) -> frozenset[str]:
    """Turn a ``semantic`` condition phrase into the keywords it stands for.

    A phrase that is exactly a category name (ignoring case and surrounding
    blanks) means that category. Otherwise each token of the phrase is kept
    as a keyword, except stop-words, and category names are replaced by the
    category's keywords. An empty result means the condition never holds.
    """
    whole = condition.strip().lower()
    if whole in CATEGORIES:
        return CATEGORIES[whole]
    keywords: set[str] = set()
    for token in tokenize(condition):
        if token in CATEGORIES:
            keywords |= CATEGORIES[token]
        elif token not in STOP_WORDS:
            keywords.add(token)
    return frozenset(keywords)


def _add_tokens(into: set[str], text: str) -> None:
    for token in tokenize(text):
        into.add(token)
        if "_" in token:
            into.update(part for part in token.split("_") if part)


def action_tokens(
    action_type: str,
    action_target: str,
    description: str,
    params: Mapping[str, Any],
) -> frozenset[str]:
    """Collect the searchable tokens of one action.

    The text searched is the type, the target, the description, every param
    key and every param value that is a string (nested values are ignored).
    """
    tokens: set[str] = set()
    pieces: list[str] = [action_type, action_target, description]
    for key, value in params.items():
        if isinstance(key, str):
            pieces.append(key)
        if isinstance(value, str):
            pieces.append(value)
    for piece in pieces:
        _add_tokens(tokens, piece)
    return frozenset(tokens)


def matches(keywords: Iterable[str], tokens: frozenset[str]) -> bool:
    """Return whether any keyword is one of the action's tokens."""
    return any(keyword in tokens for keyword in keywords)
