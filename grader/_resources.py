"""Where the bundled task specs, rubrics and example submissions live.

In a wheel they are copied under ``grader/_bundled/`` (see ``pyproject.toml``); in a
source checkout or an editable install they are the top-level folders of the repository.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def bundled_dir(name: str) -> Path:
    """Return the bundled folder ``name`` ("tasks", "rubrics" or "examples")."""
    for candidate in (_PACKAGE_DIR / "_bundled" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"medgrade's bundled '{name}' folder is missing from {_PACKAGE_DIR}; "
        "reinstall medgrade (pip install medgrade)"
    )
