"""``medgrade task new``: a commented task skeleton a course fills in."""

from __future__ import annotations

import re
from pathlib import Path

from grader.errors import MedgradeError

SKELETON_DIR = Path(__file__).resolve().parent / "skeleton"
SKELETON_FILES = ("task.yaml", "rubric.yaml", "reference/predict.py", "reference/train.py")
TASK_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def write_task_skeleton(task_id: str, directory: Path) -> list[Path]:
    """Create ``directory/task_id`` with the skeleton's files; return them, task.yaml first."""
    if not TASK_ID.match(task_id):
        raise MedgradeError(
            f"task id {task_id!r}: use lower-case letters, digits and '-', e.g. 'covid-pcr'"
        )
    folder = directory / task_id
    if folder.exists():
        raise MedgradeError(f"{folder} already exists; choose another id or folder")
    written = []
    for name in SKELETON_FILES:
        text = (SKELETON_DIR / name).read_text(encoding="utf-8")
        # Plain replacement: the YAML's own braces ({train: 0.6}) are not placeholders.
        text = text.replace("{task_id_path}", str(folder)).replace("{task_id}", task_id)
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
