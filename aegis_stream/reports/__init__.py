"""Reports computed from view aggregates (pure)."""
