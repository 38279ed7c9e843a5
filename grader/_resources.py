"""Where the bundled task specs, rubrics and example submissions live.

In a wheel they are copied under ``grader/_bundled/`` (see ``pyproject.toml``); in a
source checkout or an editable install they are the top-level folders of the repository.
"""

from __future__ import annotations

import contextlib
import site
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


@cache
def answer_folders() -> tuple[Path, ...]:
    """medgrade's own folders that hold answers: the reference implementations (trained
    weights) and the bundled example submissions, where they are imported from and in
    every site-packages folder (an editable install copies the bundled folders there).
    A sandbox whose Python environment has medgrade installed would otherwise see them
    beside its packages; backends mask them."""
    import reference_models

    folders = {Path(reference_models.__file__).resolve().parent}
    with contextlib.suppress(FileNotFoundError):
        folders.add(bundled_dir("examples"))
    for site_packages in site.getsitepackages():
        for candidate in (
            Path(site_packages) / "reference_models",
            Path(site_packages) / "grader" / "_bundled",
        ):
            if candidate.is_dir():
                folders.add(candidate.resolve())
    return tuple(sorted(folders))
