"""Rebuild ``aegis_stream/data/airline-sample.jsonl.gz`` from the tau-bench airline file.

Every tool call of the 200 GPT-4o airline conversations (1,164 calls) is
converted by the transcripts importer, classified with
``aegis_stream/data/airline-policy.yaml`` under the agent template
``gpt4o-airline-t{trial}``; event ids start with the source file's name without
``.json``/``.gz`` (``gpt-4o-airline-<task>-<trial>-<call>``), as in
``aegis-stream import``. Conversations are spread evenly over the 7 days
ending 2026-12-01T00:00:00Z (calls 20 s apart), so the output is the same on
every run; gzip is written with mtime 0 and no file name.

Usage::

    python scripts/build_airline_sample.py [--source tests/data/tau-bench/gpt-4o-airline.json.gz]
        [--policy aegis_stream/data/airline-policy.yaml] [--output aegis_stream/data/airline-sample.jsonl.gz]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
from pathlib import Path

from aegis_stream.events import AuditEvent, event_to_dict, parse_timestamp
from aegis_stream.importers import Rejected, convert, id_prefix_for, load_conversations
from aegis_stream.policy import load_policy

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "data" / "tau-bench" / "gpt-4o-airline.json.gz"
POLICY = ROOT / "aegis_stream" / "data" / "airline-policy.yaml"
OUTPUT = ROOT / "aegis_stream" / "data" / "airline-sample.jsonl.gz"
AGENT = "gpt4o-airline-t{trial}"
ANCHOR_US = parse_timestamp("2026-12-01T00:00:00Z")
WINDOW_US = 7 * 86_400 * 1_000_000


def build_sample(source: Path = SOURCE, policy_path: Path = POLICY) -> bytes:
    """Return the gzip bytes of the sample (deterministic for a given source and policy)."""
    conversations = load_conversations(source)
    policy = load_policy(policy_path)
    gap = WINDOW_US // max(len(conversations), 1)
    text = io.StringIO()
    for record in convert(
        conversations,
        policy=policy,
        agent=AGENT,
        now_us=ANCHOR_US,
        id_prefix=id_prefix_for(source),
        conversation_gap_us=gap,
    ):
        if isinstance(record, Rejected):
            raise SystemExit(f"{source}: {record.location}: {record.reason}")
        text.write(_line(record))
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(text.getvalue().encode("utf-8"))
    return buffer.getvalue()


def _line(event: AuditEvent) -> str:
    """One compact JSON line, without null fields."""
    fields = {k: v for k, v in event_to_dict(event).items() if v is not None}
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: write the sample and print its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--policy", type=Path, default=POLICY)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    data = build_sample(args.source, args.policy)
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
