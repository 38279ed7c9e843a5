"""A task's reference implementation as course staff have it, and submissions that copy it.

The trained weights of a reference never ship with medgrade (a wheel carries the code of
each reference, not its answers): staff make them with the task's ``train_command``, or
keep them in a staff-only folder, ``--references DIR`` or ``$MEDGRADE_REFERENCES``, with
one sub-folder per task id holding the reference's files (its weights; the code comes from
the task's reference package or path).  A development checkout keeps its weights beside
the code.

A submission that holds one of the reference's weight files byte for byte, or whose
predictions equal the reference's on the graded split, is flagged for the marker.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from grader.errors import SpecError
from grader.tasks import Task

REFERENCES_VARIABLE = "MEDGRADE_REFERENCES"
#: Files that are code or prose, not a trained model's answers.
_CODE_SUFFIXES = frozenset({".py", ".md", ".txt", ".ipynb", ".yaml", ".yml", ".cfg", ".toml"})
#: Smaller files (a config, an empty marker) say nothing about a copied model.
MIN_ANSWER_BYTES = 1024


def answer_files(folder: Path) -> dict[str, str]:
    """The sha256 of each file of ``folder`` that holds a model rather than code, by its
    path relative to ``folder``."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.suffix.lower() in _CODE_SUFFIXES:
            continue
        if "__pycache__" in path.parts or path.stat().st_size < MIN_ANSWER_BYTES:
            continue
        with path.open("rb") as handle:
            found[path.relative_to(folder).as_posix()] = hashlib.file_digest(
                handle, "sha256"
            ).hexdigest()
    return found


def staff_references(references: Path | None = None) -> Path | None:
    """The staff-only folder of trained references (the option, else the variable)."""
    if references is not None:
        return references
    value = os.environ.get(REFERENCES_VARIABLE, "").strip()
    return Path(value) if value else None


def reference_submission(task: Task, workdir: Path, references: Path | None = None) -> Path:
    """A folder holding the task's reference submission with its trained weights.

    Raises :class:`SpecError` naming the ways to get the weights when there are none."""
    code = task.reference_dir()
    staff = staff_references(references)
    trained = staff / task.id if staff is not None else None
    if trained is not None and trained.is_dir() and answer_files(trained):
        folder = workdir / f"reference-{task.id}"
        shutil.copytree(code, folder, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(trained, folder, dirs_exist_ok=True)
        return folder
    if answer_files(code):
        return code
    where = f" ({trained} holds none)" if trained is not None else ""
    raise SpecError(
        task.spec_path,
        [
            f"reference: the reference's trained weights are not here{where}: they never ship "
            f"with medgrade. Train them with `{task.spec.reference.train_command}` (it writes "
            f"them beside the reference's code), or put them in a staff-only folder DIR/{task.id}/ "
            f"and pass --references DIR (or set {REFERENCES_VARIABLE}=DIR)"
        ],
    )


@dataclass(frozen=True)
class ReferenceFingerprint:
    """What a copy of the reference would share with it."""

    #: sha256 -> the reference's file name.
    weights: dict[str, str]
    #: sha256 of the reference's predictions on the graded split, when it was run.
    predictions_sha256: str | None = None

    def flags(
        self, file_sha256: tuple[tuple[str, str], ...], predictions_sha256: str | None
    ) -> tuple[str, ...]:
        """The marker's flags for a submission with these files and predictions."""
        found = []
        copied = sorted({self.weights[sha] for _, sha in file_sha256 if sha in self.weights})
        if copied:
            found.append(f"Holds the reference implementation's {', '.join(copied)} byte for byte")
        if predictions_sha256 is not None and predictions_sha256 == self.predictions_sha256:
            found.append("Its predictions equal the reference implementation's, case for case")
        return tuple(found)
