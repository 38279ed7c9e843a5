"""``medgrade demo``: the bundled examples graded on the bundled default task, as a marker would."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from grader._resources import bundled_dir
from grader.journeys._batch import Progress, Started
from grader.journeys._grade import BatchResult, grade
from grader.submission import IGNORED_NAMES, Submission

DEMO_TASK = "breast-cancer-wdbc"


def default_demo_out() -> Path:
    """Where ``medgrade demo`` writes unless told: the user's data folder (XDG)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "medgrade" / "demo"


def demo_submissions() -> list[Submission]:
    """The bundled example submissions, one per subfolder of ``examples/submissions``
    (in a checkout the reference is a link to its folder in ``reference_models``, which a
    marker's class folder may not hold: these are medgrade's own)."""
    folder = bundled_dir("examples") / "submissions"
    return [
        Submission(entry.name, entry.resolve())
        for entry in sorted(folder.iterdir())
        if not entry.name.startswith(".") and entry.name not in IGNORED_NAMES
    ]


def demo(
    *,
    out: Path = Path("medgrade-demo"),
    backend: str = "auto",
    workers: int = 2,
    on_start: Started | None = None,
    on_result: Progress | None = None,
    on_note: Callable[[str], None] | None = None,
) -> BatchResult:
    """Grade the bundled examples on the bundled default task, as a marker would.

    The examples are known code, so the demo may fall back to the local backend on a
    machine without Docker or bubblewrap.
    """
    return grade(
        demo_submissions(),
        DEMO_TASK,
        backend=backend,
        unsafe_local=True,
        out=out,
        workers=workers,
        on_start=on_start,
        on_result=on_result,
        on_note=on_note,
    )
