"""A plain (not editable) install works: build the wheel, install it in a fresh virtualenv, run
``everystage check-config`` on the bundled example and ``everystage demo`` from an unrelated
folder, and refuse to start beside another package that uses one of Everystage's names.

Offline: the wheel is built with this environment's setuptools (``--no-build-isolation``), and
the new virtualenv borrows this environment's installed dependencies through a ``.pth`` file
(a path line, so the editable install's own hooks there are not run).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

SOURCES = ("pyproject.toml", "README.md", "config.example.toml", "bot", "conversations", "storage")
NEEDS_SETUPTOOLS = (77,)


def _setuptools_ok() -> bool:
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    return tuple(int(p) for p in version.split(".")[:1]) >= NEEDS_SETUPTOOLS


pytestmark = pytest.mark.skipif(
    not _setuptools_ok(),
    reason="building the wheel offline needs setuptools>=77 here (pip install -e '.[test]')",
)


def run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 60) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def clean_env() -> dict[str, str]:
    """The environment of someone who just installed it: no Everystage settings, no PYTHONPATH."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("EVERYSTAGE_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, data: dict | None = None) -> tuple[int, bytes]:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"} if body else {}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def hand_made_wheel(folder: Path, name: str, files: dict[str, str]) -> Path:
    """A minimal wheel, as another project (built without top_level.txt) would ship it."""
    info = f"{name}-1.0.dist-info"
    contents = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def test_a_built_wheel_installs_and_runs_from_any_folder(tmp_path: Path) -> None:
    env = clean_env()
    # Build from a copy: building in the work tree would leave build/ and egg-info behind.
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    wheelhouse = tmp_path / "wheels"
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check")
    build = ("wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index")
    run(*pip, *build, "-w", wheelhouse, source, cwd=tmp_path, env=env)
    [wheel] = wheelhouse.glob("everystage-*.whl")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(run(python, "-c", where, cwd=tmp_path, env=env).strip())
    # Dependencies from this environment, after the new one's own packages on the path.
    borrowed = dict.fromkeys(sysconfig.get_path(kind) for kind in ("purelib", "platlib"))
    (site / "zz_borrowed_dependencies.pth").write_text("".join(f"{p}\n" for p in borrowed))
    install = (*pip, "--python", python, "install", "-q", "--no-deps", "--no-index")
    run(*install, wheel, cwd=tmp_path, env=env)

    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    everystage = venv / "bin" / "everystage"
    imported = (
        "import bot, conversations as c, storage as s; print(bot.__file__, c.__file__, s.__file__)"
    )
    homes = run(python, "-c", imported, cwd=elsewhere, env=env).split()
    assert all(Path(home).is_relative_to(site) for home in homes), homes

    # The example config is in the package, and is the repository's top-level file.
    bundled = site / "bot" / "demo" / "config.example.toml"
    assert not bundled.is_symlink()
    assert bundled.read_bytes() == (ROOT / "config.example.toml").read_bytes()
    summary = run(everystage, "check-config", "--config", bundled, cwd=elsewhere, env=env)
    assert ": OK" in summary and "Check-ins: 3" in summary

    port = free_port()
    with subprocess.Popen(
        [everystage, "demo", "--port", str(port)],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as demo:
        assert demo.stdout is not None and demo.stderr is not None
        try:
            printed = []
            stuck = threading.Timer(60, demo.kill)  # a demo that never starts fails the test
            stuck.daemon = True
            stuck.start()
            while line := demo.stdout.readline():  # until it says where everything is
                printed.append(line)
                if line.startswith("Database:"):
                    break
            stuck.cancel()
            assert any("Everystage demo running" in line for line in printed), printed
            assert f"Config: {bundled}" in "".join(printed)

            url = f"http://127.0.0.1:{port}"
            status, page = get(f"{url}/")
            assert status == 200 and b"<title>Everystage demo</title>" in page
            status, script = get(f"{url}/demo/static/app.js")
            assert status == 200 and script
            status, state = get(f"{url}/demo/state")
            assert json.loads(state)["project"]["name"].startswith("Riverside Pathways")
            # A pretend participant gets the consent message and its buttons (the locale
            # file's words) and starts the design stage's check-in.
            status, _ = get(f"{url}/demo/participants", {"stage": "design"})
            assert status == 200
            _, people = get(f"{url}/demo/participants")
            [person] = json.loads(people)
            assert person["consented"] and person["checkin_in_progress"] == "weekly"
        finally:
            demo.send_signal(signal.SIGINT)
            try:
                _, errors = demo.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                demo.kill()
                raise
    assert demo.returncode == 0, errors
    assert "Traceback" not in errors
    assert not list(elsewhere.iterdir())  # nothing written where it was started

    # Another distribution with a top-level `bot` package: refuse to start, and say why.
    other = hand_made_wheel(wheelhouse, "otherbot", {"bot/other_project.py": "X = 1\n"})
    run(*install, other, cwd=tmp_path, env=env)
    clash = subprocess.run(
        [everystage, "check-config", "--config", bundled],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert clash.returncode == 1
    assert "otherbot 1.0" in clash.stderr and "'bot'" in clash.stderr
    assert "virtual environment of its own" in clash.stderr
    assert "Traceback" not in clash.stderr
