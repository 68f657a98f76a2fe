"""Coordinators' commands: /stats, /stage, /ask, /reload."""

from __future__ import annotations

from typing import Any


def register(app: Any) -> None:
    """Add the coordinators' command handlers."""
