"""The exceptions medgrade raises on the host side.

::

    MedgradeError                 base of everything below
    ├── SpecError                 a task spec or rubric file is malformed (names file and field)
    ├── TaskNotFoundError         no task with that id
    ├── DataError                 a dataset is missing or does not match what the task records
    ├── PluginError               an installed or named plug-in cannot be used
    └── SubmissionError           a submission cannot be read at all (not a folder, a bad zip)

The sandbox side raises :class:`sandbox.SandboxUnavailableError` when the chosen backend
cannot run on this machine (no engine, no image, no GPU runtime); the CLI reports it like
the errors above.

A *student's* mistake inside a run (a crash, a timeout, NaN predictions) is never an
exception here: it becomes a graded failure (:class:`grader.outcome.Failure`) so a batch
goes on.
"""

from __future__ import annotations

from pathlib import Path


class MedgradeError(Exception):
    """Base class for every error medgrade raises on purpose."""


class SpecError(MedgradeError):
    """A task spec or rubric is malformed.

    The message names the file, the field path, the value received and what was expected.
    """

    def __init__(self, file: Path | str, problems: list[str]) -> None:
        self.file = Path(file)
        self.problems = problems
        joined = "\n".join(f"  - {p}" for p in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{self.file}: {len(problems)} {noun}:\n{joined}")


class TaskNotFoundError(MedgradeError):
    """No task with the given id is installed or in the given folders."""


class DataError(MedgradeError):
    """A dataset is missing or differs from what the task recorded."""


class PluginError(MedgradeError):
    """An installed or named plug-in (a dataset loader...) cannot be used: it does not
    import, its signature is wrong, or its name is taken."""


class NotebookError(MedgradeError):
    """A notebook cannot be found, read or exported."""


class SubmissionError(MedgradeError):
    """A submission cannot be opened at all (not a folder, a corrupt or unsafe zip)."""
