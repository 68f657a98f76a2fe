"""``everystage demo``: the sandbox, the real bot and a web chat page in one process."""

from .server import DEMO_TOKEN, Demo, demo_running, run_demo

__all__ = ["DEMO_TOKEN", "Demo", "demo_running", "run_demo"]
