"""Entry tags: made with one key, refused with another or on a changed payload."""

from __future__ import annotations

import hashlib

import pytest

from aegis_stream.signing import MIN_KEY_CHARS, TAG_BYTES, Signer, signer_for

KEY = "k" * MIN_KEY_CHARS


def test_a_tag_verifies_with_its_key_only() -> None:
    payload = b"\x81\xa1v\x01"
    tag = Signer(KEY).tag(payload)
    assert len(tag) == TAG_BYTES
    assert Signer(KEY).verify(payload, tag)
    assert not Signer(KEY + "x").verify(payload, tag)
    assert not Signer(KEY).verify(payload + b"\x00", tag)
    assert not Signer(KEY).verify(payload, tag[:-1])
    assert not Signer(KEY).verify(payload, b"")


def test_the_tag_is_keyed_blake2b_of_the_payload_under_a_derived_key() -> None:
    payload = b"some payload"
    key = hashlib.blake2b(KEY.encode(), digest_size=32, person=b"aegis-stream/key").digest()
    expected = hashlib.blake2b(payload, key=key, digest_size=16, person=b"aegis-stream/e1").digest()
    signer = Signer(KEY)
    assert signer.tag(payload) == expected
    assert signer.tag(payload) == expected  # the keyed state is copied, never used up


def test_keys_longer_than_blake2b_takes_are_used_in_full() -> None:
    long_a, long_b = "a" * 64 + "1", "a" * 64 + "2"  # the same first 64 bytes
    assert Signer(long_a).tag(b"x") != Signer(long_b).tag(b"x")


def test_the_secret_never_shows() -> None:
    assert KEY not in repr(Signer(KEY))


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        Signer("x" * (MIN_KEY_CHARS - 1))


def test_no_secret_no_signer() -> None:
    assert signer_for(None) is None
    assert signer_for("") is None
    assert isinstance(signer_for(KEY), Signer)
