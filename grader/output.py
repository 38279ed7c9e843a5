"""The output folder of a batch: every file and folder name it holds, and whole-file writes.

::

    OUT/
    ├── medgrade.sqlite      the store: every run and grade (resume, re-marking, exports)
    ├── gradebook.csv        one row per student
    ├── manual_marks.csv     the markers' sheet for the rubric's manual criteria
    ├── dashboard.html       the class summary, linking each report
    ├── reports/STUDENT.html the students' reports (and graded notebooks, STUDENT.ipynb)
    ├── feedback/STUDENT.txt the marks and the marker's comments, to hand back as text
    └── exports/             LMS uploads and exported notebooks

The batch writes it, the dashboard, LMS exports and the Jupyter front end read it: they all
name its parts through :class:`OutputFolder`, so no path is spelled twice.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

#: The suffix of a file being written; the next batch removes leftovers of a killed one.
PARTIAL_SUFFIX = ".partial"


@dataclass(frozen=True)
class OutputFolder:
    root: Path

    @property
    def store(self) -> Path:
        return self.root / "medgrade.sqlite"

    @property
    def gradebook(self) -> Path:
        return self.root / "gradebook.csv"

    @property
    def manual_marks(self) -> Path:
        return self.root / "manual_marks.csv"

    @property
    def dashboard(self) -> Path:
        return self.root / "dashboard.html"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def feedback(self) -> Path:
        return self.root / "feedback"

    def feedback_file(self, student_id: str) -> Path:
        return self.feedback / f"{student_id}.txt"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def partial(self) -> Path:
        """Where reports are written before they are renamed into ``reports/``."""
        return self.root / ".medgrade-partial"

    @property
    def lock(self) -> Path:
        """Held (flock) by the batch writing the folder; the kernel lets go when it dies."""
        return self.root / ".medgrade-grade.lock"

    @property
    def lease(self) -> Path:
        """Where the running batch keeps its process id and scratch folder; removed when the
        batch ends, so one found by the next batch is from a batch that was killed."""
        return self.root / ".medgrade-grade.json"

    def report(self, student_id: str) -> Path:
        return self.reports / f"{student_id}.html"

    def report_link(self, student_id: str) -> str:
        """The link to a student's report from a page at the root (the dashboard); ids
        come from file names, so "#", "?" or "%" are quoted to stay part of the path."""
        return f"{self.reports.name}/{quote(self.report(student_id).name, safe='')}"


def write_text_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by a file holding ``text`` in one step (temporary file, then rename)."""
    unique = f"{os.getpid()}-{secrets.token_hex(4)}"
    temporary = path.with_name(f".{path.name}.{unique}{PARTIAL_SUFFIX}")
    try:
        # newline="": the text is written as given (a CSV keeps its CRLF line ends).
        with temporary.open("x", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
