"""Entry point of a projector process: ``python -m workers.projector [--burst]``."""

import sys

from aegis_stream.cli import run

if __name__ == "__main__":
    sys.exit(run(["worker", *sys.argv[1:]]))
