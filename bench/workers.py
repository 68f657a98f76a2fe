"""Real `everystage run --webhook` processes on one database: for the benchmarks and the tests
that run several workers (bench.scale, bench.fanout_workers, tests/test_workers.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.sandbox.testing import TEST_TOKEN
from bot.settings import STORAGE_PASSWORD_ENV

ROOT = Path(__file__).resolve().parent.parent
SECRET = "workers-secret_0123456789"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class WorkerProcess:
    """One worker: its name, the port it listens on, and the file its output goes to."""

    name: str
    log: Path
    port: int = 0
    process: asyncio.subprocess.Process | None = None

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port()

    @property
    def url(self) -> str:
        """Where a load balancer (the sandbox's round-robin) posts its updates."""
        return f"http://127.0.0.1:{self.port}/telegram"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    async def start(
        self,
        sandbox_url: str,
        config: Path,
        database_url: str,
        password: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """Start it (without waiting until it is ready: see :meth:`ready`)."""
        environment = {
            **os.environ,
            "EVERYSTAGE_TELEGRAM__TOKEN": TEST_TOKEN,
            "EVERYSTAGE_TELEGRAM__API_BASE_URL": sandbox_url,
            "EVERYSTAGE_STORAGE__URL": database_url,
            "EVERYSTAGE_STORAGE__PATH": str(self.log.parent / "unused.db"),
            "EVERYSTAGE_STORAGE__FILES_DIR": str(self.log.parent / "files"),
            "EVERYSTAGE_TELEGRAM__WEBHOOK_URL": self.url,
            "EVERYSTAGE_TELEGRAM__WEBHOOK_LISTEN": f"127.0.0.1:{self.port}",
            "EVERYSTAGE_TELEGRAM__WEBHOOK_SECRET": SECRET,
            **(env or {}),
        }
        if password is not None:
            environment[STORAGE_PASSWORD_ENV] = password
        with self.log.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "bot.cli", "run", "--webhook", "--config", str(config)),
                cwd=ROOT,
                env=environment,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
            )

    def output(self) -> str:
        """What it has logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def said(self, text: str) -> bool:
        """Whether its log holds ``text``."""
        return text in self.output()

    async def ready(self, within: float = 60) -> None:
        """Wait until /readyz answers 200 (its database is reachable); fail if it exits."""
        async with httpx.AsyncClient(timeout=2) as http, asyncio.timeout(within):
            while True:
                if self.process is None or self.process.returncode is not None:
                    raise RuntimeError(
                        f"worker {self.name} exited while starting:\n{self.output()[-3000:]}"
                    )
                try:
                    if (await http.get(f"http://127.0.0.1:{self.port}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)

    async def stop(self, sig: int, within: float = 60) -> int:
        """Send ``sig`` (if it still runs) and wait for it to exit; its exit code."""
        assert self.process is not None, f"{self.name} was never started"
        if self.process.returncode is None:
            self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), within)

    async def kill(self) -> None:
        """Make sure it is gone (cleanup after a failure)."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
