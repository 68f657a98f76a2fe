"""Is this Everystage's own code? Its packages have plain names that another project may share.

Everystage installs three top-level packages, ``bot``, ``conversations`` and ``storage``. Pip does
not stop two distributions from installing the same top-level name into one environment: the
second one's files land among the first one's, and the bot fails later in a way nobody can
explain. ``problems()`` finds that at start-up, cheaply (one metadata file per installed
distribution): another distribution that declares one of these names, or one of them imported
from somewhere else than the other two.
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import Distribution, distributions
from pathlib import Path

PACKAGES = ("bot", "conversations", "storage")
DISTRIBUTION = "everystage"


def _home(name: str) -> Path | None:
    """The folder the top-level package (or module) ``name`` is imported from."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.origin and spec.origin not in ("namespace", "built-in", "frozen"):
        origin = Path(spec.origin)
        return origin.parent.parent if origin.name == "__init__.py" else origin.parent
    locations = list(spec.submodule_search_locations or [])
    return Path(locations[0]).parent if locations else None


def _top_level(dist: Distribution) -> set[str]:
    """The top-level names a distribution installs (top_level.txt, else its RECORD)."""
    declared = dist.read_text("top_level.txt")
    if declared is not None:
        return {line.strip() for line in declared.splitlines() if line.strip()}
    names: set[str] = set()
    for line in (dist.read_text("RECORD") or "").splitlines():
        first = line.split(",", 1)[0].split("/", 1)
        if len(first) == 2:
            names.add(first[0])
        elif first[0].endswith(".py"):
            names.add(first[0].removesuffix(".py"))
    return names


def problems() -> list[str]:
    """What is wrong with the install, in words for whoever installed it (empty: nothing)."""
    found = []
    wanted = set(PACKAGES)
    for dist in distributions():
        name = (dist.metadata["Name"] or "").strip()
        if name.lower().replace("_", "-") == DISTRIBUTION:
            continue
        for clash in sorted(wanted & _top_level(dist)):
            found.append(
                f"the installed package {name} {dist.version} also has a top-level"
                f" {clash!r} package, a name Everystage uses: their files may have overwritten"
                " each other's"
            )
    homes = {name: _home(name) for name in PACKAGES}
    if len(set(homes.values())) > 1:
        where = ", ".join(f"{name!r} from {home}" for name, home in homes.items())
        found.append(f"Everystage's packages come from different places ({where})")
    return found


ADVICE = (
    "Install Everystage in a virtual environment of its own, e.g.\n"
    "  python3 -m venv /opt/everystage && /opt/everystage/bin/pip install everystage"
)
