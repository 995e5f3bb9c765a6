"""``python -m aegis_stream`` runs the CLI."""

from aegis_stream.cli import main

main()
