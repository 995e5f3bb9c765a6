"""Every non-Python file of the package is declared as package data (or a wheel would lack it)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_resource_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["aegis_stream"]
    package = ROOT / "aegis_stream"
    declared = {p for pattern in patterns for p in package.glob(pattern)}
    resources = {
        p
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
    }
    assert resources, "the package ships data files"
    assert resources <= declared, sorted(str(p.relative_to(package)) for p in resources - declared)
