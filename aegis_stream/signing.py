"""Signed stream entries: a producer holding the signing key vouches that it validated the event.

Anyone who can ``XADD`` can write an entry, so the projector checks every
entry again, and walking nested params and tool replies is most of its cost
per event. A producer configured with ``AEGIS_SIGNING_KEY`` adds a tag to each
entry it writes (keyed BLAKE2b over the payload, field ``s``): the payload was
encoded from an event it validated and redacted. A projector with the same
key reads only the fields it projects from an entry whose tag verifies.

Only the walk of params and result data is skipped: every other field is
checked as in any entry, so what the views count is always valid. A tag
vouches for the params and tool replies, which the audit log keeps as
written: give the key only to producers that validate (aegis-stream's own).

An entry without a tag, or whose tag does not verify (another key, a
tampered payload), is validated in full as before: a wrong or rotated key
costs time, never events, and never lets an unchecked entry through.
"""

from __future__ import annotations

import hashlib
import hmac

from aegis_stream.heads import HeadReader

MAC_FIELD = b"s"  # the stream entry field holding the tag, beside the payload's ``e``
TAG_BYTES = 16
MIN_KEY_CHARS = 32
_KEY_PERSON = b"aegis-stream/key"  # BLAKE2b personalisation strings: at most 16 bytes
_TAG_PERSON = b"aegis-stream/e1"


class Signer:
    """Makes and checks entry tags with one secret (of any length, at least 32 characters)."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_KEY_CHARS:
            raise ValueError(f"a signing key needs at least {MIN_KEY_CHARS} characters")
        # BLAKE2b takes at most 64 key bytes: derive a fixed-size key from a secret of any length
        key = hashlib.blake2b(secret.encode("utf-8"), digest_size=32, person=_KEY_PERSON).digest()
        # the keyed state, copied for each payload (cheaper than keying anew)
        self._keyed = hashlib.blake2b(key=key, digest_size=TAG_BYTES, person=_TAG_PERSON)

    def tag(self, payload: bytes) -> bytes:
        """The tag of one payload."""
        state = self._keyed.copy()
        state.update(payload)
        return state.digest()

    def verify(self, payload: bytes, tag: bytes) -> bool:
        """True when ``tag`` is this key's tag of ``payload`` (compared in constant time)."""
        return hmac.compare_digest(self.tag(payload), tag)

    def __repr__(self) -> str:
        return "Signer('***')"


def signer_for(secret: str | None) -> Signer | None:
    """A :class:`Signer` for a configured secret (see ``Settings.signing_key``), or None: not signed."""
    return Signer(secret) if secret else None


_BULK = frozenset(("p", "rd"))  # params and result data: neither is projected


class SignedReader(HeadReader):
    """A :class:`~aegis_stream.heads.HeadReader` with the key that checks the tags."""

    def __init__(self, signer: Signer) -> None:
        super().__init__()
        self.signer = signer
        self.unverified = 0  # entries whose tag did not verify with this key
