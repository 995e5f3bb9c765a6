"""Signed stream entries: a producer holding the signing key vouches that it validated the event.

Anyone who can ``XADD`` can write an entry, so the projector checks every
entry again, and walking nested params and tool replies is most of its cost
per event. A producer configured with ``AEGIS_SIGNING_KEY`` adds a tag to each
entry it writes (keyed BLAKE2b over the payload, field ``s``): the payload was
encoded from an event it validated and redacted. A projector with the same
key reads only the fields it projects from an entry whose tag verifies.

An entry without a tag, or whose tag does not verify (another key, a
tampered payload), is validated in full as before: a wrong or rotated key
costs time, never events, and never lets an unchecked entry through.
:class:`SignedReader` reads the fields the projection needs from an entry
whose tag verified (see :func:`aegis_stream.wire.decode_stored`).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import msgpack

from aegis_stream.events import APPROVALS, RISK_LEVELS, SCHEMA_VERSION, AuditEvent

MAC_FIELD = b"s"  # the stream entry field holding the tag, beside the payload's ``e``
TAG_BYTES = 16
MIN_KEY_CHARS = 32
_KEY_PERSON = b"aegis-stream/key"  # BLAKE2b personalisation strings: at most 16 bytes
_TAG_PERSON = b"aegis-stream/e1"


class Signer:
    """Makes and checks entry tags with one secret (of any length, at least 32 characters)."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: str) -> None:
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
    """A :class:`Signer` for a configured secret, or None when entries are not signed."""
    return Signer(secret) if secret else None


_BULK = frozenset(("p", "rd"))  # params and result data: neither is projected


class SignedReader:
    """Reads the projected fields of payloads a producer signed, skipping the bulky ones undecoded.

    One msgpack unpacker serves every payload (making one costs more than
    reading a payload's head); it is replaced whenever a payload is not read
    to its exact end, so one odd payload cannot shift the next.
    """

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self._unpacker = msgpack.Unpacker(raw=False)
        self._read = 0  # bytes the unpacker has consumed so far

    def head(self, payload: bytes) -> AuditEvent | None:
        """The event's projected fields; None (validate in full) for anything but the producer's form.

        A tag only vouches for whoever holds the key, so this still refuses to guess.
        """
        unpacker = self._unpacker
        body: dict[str, Any] = {}
        try:
            unpacker.feed(payload)
            for _ in range(unpacker.read_map_header()):
                key = unpacker.unpack()
                if key in _BULK:
                    unpacker.skip()
                else:
                    body[key] = unpacker.unpack()
            self._read += len(payload)
            if unpacker.tell() != self._read:
                raise ValueError("payload not read to its end")
            get = body.get
            event = AuditEvent(
                session_id=body["s"],
                ts_us=body["t"],
                action_type=body["at"],
                action_target=body["tg"],
                action_desc=get("d"),
                risk_level=body["r"],
                approval=body["a"],
                matched_rule=get("m"),
                human_decision=get("h"),
                result_status=get("rs"),
                result_error=get("re"),
                agent_id=get("ag"),
                parent_agent_id=get("pa"),
                chain_id=get("c"),
                chain_depth=get("cd", 0),
                event_id=get("id"),
            )
        except Exception:  # not the producer's form after all: msgpack raises several types
            self._unpacker, self._read = msgpack.Unpacker(raw=False), 0
            return None
        if (
            body.get("v") != SCHEMA_VERSION
            or type(event.ts_us) is not int
            or event.approval not in APPROVALS
            or event.risk_level not in RISK_LEVELS
        ):
            return None
        return event
