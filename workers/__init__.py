"""Thin process entry points; all logic lives in the aegis_stream package."""
