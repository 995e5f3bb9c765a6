"""Reading a payload's head without decoding its params and result data (the bulky fields).

The projector does this for entries a producer signed (see signing.py), and
the audit log's reader for a row whose params or result data do not validate.
"""

from __future__ import annotations

from typing import Any

import msgpack


class HeadReader:
    """Reads the head of payloads: every field but params and result data.

    Params must still be a map (its header is read; its contents are skipped
    undecoded); result data is skipped. The caller checks the head as any
    entry's (:func:`aegis_stream.wire.decode_stored`). One msgpack unpacker
    serves every payload (making one costs more than reading a head); it is
    replaced whenever a payload is not read to its exact end, so one odd
    payload cannot shift the next.
    """

    def __init__(self) -> None:
        self._unpacker = msgpack.Unpacker(raw=False)
        self._read = 0  # bytes the unpacker has consumed so far

    def head(self, payload: bytes) -> dict[str, Any] | None:
        """The payload's map without ``p`` and ``rd``; None if it is not a map of that shape."""
        unpacker = self._unpacker
        body: dict[str, Any] = {}
        try:
            unpacker.feed(payload)
            for _ in range(unpacker.read_map_header()):
                key = unpacker.unpack()
                if key == "p":
                    for _ in range(2 * unpacker.read_map_header()):
                        unpacker.skip()
                elif key == "rd":
                    unpacker.skip()
                else:
                    body[key] = unpacker.unpack()
            self._read += len(payload)
            if unpacker.tell() != self._read:
                raise ValueError("payload not read to its end")
        except Exception:  # not the producer's form after all: msgpack raises several types
            self._unpacker, self._read = msgpack.Unpacker(raw=False), 0
            return None
        return body
