"""Scenario figures, one JSON file each, for ``python -m tests.reliability.report``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["Results"]


class Results:
    """Writes ``<scenario>--<backend>.json`` into ``directory``."""

    def __init__(self, directory: Path, scale: float) -> None:
        self.directory = directory
        self.scale = scale

    def write(self, scenario: str, backend: str, **figures: Any) -> None:
        """Record one scenario run's figures (sizes, faults, counts, seconds)."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{scenario}--{backend}")
        record = {"scenario": scenario, "backend": backend, "scale": self.scale, **figures}
        path = self.directory / f"{name}.json"
        path.write_bytes(msgspec.json.format(msgspec.json.encode(record)))
