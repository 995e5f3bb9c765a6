"""Entry point of an API process: ``python -m workers.api [--host H] [--port P]``."""

import sys

from aegis_stream.cli import run

if __name__ == "__main__":
    sys.exit(run(["api", *sys.argv[1:]]))
