"""Find the line of each key in a TOML file, so config errors can say FILE:LINE.

``tomllib`` gives values but no positions, so this scans the text once: table headers,
arrays of tables and ``key = value`` lines, skipping over multi-line strings and arrays. It only
has to be good enough to point a coordinator at the right line; a path it does not know falls
back to its nearest known parent.
"""

from __future__ import annotations

import re

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=\s*(.*)$"""
)
_PART = re.compile(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""")


def _split_key(key: str) -> list[str]:
    return [part.strip("\"'") for part in _PART.findall(key)]


def _value_end(lines: list[str], start: int, value: str) -> int:
    """Index of the last line of a value that starts on ``lines[start]``."""
    for quote in ('"""', "'''"):
        if value.startswith(quote):
            if value.count(quote) >= 2:
                return start
            for index in range(start + 1, len(lines)):
                if quote in lines[index]:
                    return index
            return len(lines) - 1
    depth = 0
    index = start
    text = value
    while True:
        in_string: str | None = None
        escaped = False
        for char in text:
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\" and in_string == '"':
                    escaped = True
                elif char == in_string:
                    in_string = None
            elif char in "\"'":
                in_string = char
            elif char == "#":
                break
            elif char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
        if depth <= 0 or index + 1 >= len(lines):
            return index
        index += 1
        text = lines[index]


def key_lines(text: str) -> dict[Path, int]:
    """Map each key path (with array-of-tables indexes) to its 1-based line number."""
    # Only "\n" ends a line in TOML (as in tomllib's own line numbers); splitlines() would also
    # split at characters a string may hold, such as U+2028 or \x85, and count lines wrongly.
    lines = text.split("\n")
    found: dict[Path, int] = {}
    table: Path = ()
    array_counts: dict[Path, int] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        header = _HEADER.match(line) if stripped.startswith("[") else None
        if header:
            parts = _split_key(header.group(2))
            resolved: list[str | int] = []
            for depth, part in enumerate(parts):
                resolved.append(part)
                prefix = tuple(resolved)
                is_last = depth == len(parts) - 1
                if is_last and header.group(1) == "[[":
                    count = array_counts.get(prefix, -1) + 1
                    array_counts[prefix] = count
                    resolved.append(count)
                elif not is_last and prefix in array_counts:
                    resolved.append(array_counts[prefix])
            table = tuple(resolved)
            found.setdefault(table, index + 1)
            index += 1
            continue
        match = _KEY.match(line)
        if match:
            path = table + tuple(_split_key(match.group(1)))
            found.setdefault(path, index + 1)
            index = _value_end(lines, index, match.group(2).strip()) + 1
            continue
        index += 1
    return found


def line_of(lines: dict[Path, int], path: Path) -> int:
    """The line of ``path`` or of its nearest known parent (1 when nothing is known)."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return 1
