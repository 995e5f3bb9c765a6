"""The Starlette API: handlers only read views."""

from aegis_stream.api.app import create_app

__all__ = ["create_app"]
