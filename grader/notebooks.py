"""The Jupyter front end: ``from grader import check; check(TASK)`` self-checks the notebook
it is called from.

The graded notebook a batch leaves behind, and its export, are the report's
(:mod:`grader.report._notebook`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import NotebookError
from grader.evaluation import Evaluation


def current_notebook() -> Path:
    """The notebook whose kernel this is: JupyterLab/Notebook 7 and VS Code say so, and a
    folder with a single notebook leaves no doubt."""
    session = os.environ.get("JPY_SESSION_NAME")
    if session:
        for candidate in (Path(session), Path.cwd() / Path(session).name):
            if candidate.suffix == ".ipynb" and candidate.is_file():
                return candidate.resolve()
    vscode = _ipython_namespace().get("__vsc_ipynb_file__")
    if isinstance(vscode, str) and Path(vscode).is_file():
        return Path(vscode).resolve()
    here = sorted(Path.cwd().glob("*.ipynb"))
    if len(here) == 1:
        return here[0].resolve()
    raise NotebookError(
        "cannot tell which notebook to check; name it: check(TASK, 'my_notebook.ipynb')"
    )


def _ipython_namespace() -> dict[str, Any]:
    try:
        from IPython import get_ipython
    except ImportError:
        return {}
    shell = get_ipython()
    return dict(shell.user_ns) if shell is not None else {}


@dataclass(frozen=True)
class SelfCheck:
    """What :func:`check` returns; Jupyter shows it as the report."""

    evaluation: Evaluation
    report_html: str
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        return self.evaluation.status

    def _repr_html_(self) -> str:
        from html import escape

        notes = "".join(f'<p class="medgrade-note">{escape(note)}</p>' for note in self.notes)
        return notes + self.report_html

    def __repr__(self) -> str:
        e = self.evaluation
        outcome = f"failed ({e.failure.kind}: {e.failure.message})" if e.failure else "graded"
        return (
            f"<medgrade self-check of {e.student_id} on {e.task_id}: {outcome}; marks "
            f"{e.marks.total:g}/{e.marks.max_points:g}; report {e.report_path}>"
        )


def check(
    task: str,
    submission: str | os.PathLike[str] | None = None,
    *,
    backend: str = "auto",
    out: str | os.PathLike[str] = "medgrade-check",
    data_dir: str | os.PathLike[str] | None = None,
) -> SelfCheck:
    """Self-check from a notebook: ``from grader import check; check("breast-cancer-wdbc")``.

    Checks ``submission`` (a notebook, folder or zip), by default the folder of the
    notebook this kernel runs (save it first: the file on disk is what gets checked), on
    the validation split through the marker's pipeline, and shows the report inline.
    Works offline and without Docker (bubblewrap, else the local backend).  While grading,
    the sandbox replaces this function with one that does nothing.
    """
    from grader.journeys import check as check_journey
    from grader.report import render_report
    from grader.tasks import load_task

    loaded = load_task(task)
    path = Path(submission) if submission is not None else current_notebook().parent
    notes: list[str] = []
    evaluation = check_journey(
        loaded,
        path,
        backend=backend,
        out=Path(out),
        data_dir=None if data_dir is None else Path(data_dir),
        on_note=notes.append,
    )
    n_cases = len(loaded.split_manifest().case_ids["validation"])
    fragment = render_report(evaluation, loaded, n_cases=n_cases, embedded=True)
    return SelfCheck(evaluation, fragment, tuple(notes))
