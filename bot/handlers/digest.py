"""(Being built.)"""

from __future__ import annotations

from typing import Any


def register(app: Any) -> None:
    """Add this feature's handlers and jobs to the application."""
