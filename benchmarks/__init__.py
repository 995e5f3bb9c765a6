"""Runnable benchmarks; each prints a table (never timed assertions in tests)."""
