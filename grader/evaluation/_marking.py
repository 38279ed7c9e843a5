"""Marking in one place: the rubric applied to a run record.

A run's outcome depends only on its run key; its marks also on the rubric, the marker's
manual marks and comments and when it was handed in.  Every path that marks (a new run, a
stored run reused, a cluster worker's run, a late change of marks) calls :func:`mark`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from grader import disclosure
from grader.evaluation._record import Evaluation
from grader.rubric import ManualMarks, Rubric, score


def mark(
    evaluation: Evaluation,
    rubric: Rubric,
    *,
    manual: ManualMarks | None = None,
    submitted_at: dt.datetime | None = None,
) -> Evaluation:
    """``evaluation`` with the marks ``rubric`` awards it: its metrics (none count when it
    failed), its CPU time (as the sandbox's supervisor counted it) for penalties, the
    marker's ``manual`` points and comments and, for the late policy, when it was
    ``submitted_at``.  On a hidden split the explanations give the metrics as the report
    does, rounded."""
    failure = evaluation.failure
    marks = score(
        rubric,
        metrics=evaluation.metrics if failure is None else None,
        failure_reason=None if failure is None else f"the submission failed ({failure.kind})",
        cpu_time_s=None if evaluation.run is None else evaluation.run.cpu_time_s,
        manual=manual,
        submitted_at=submitted_at,
        value_decimals=disclosure.DECIMALS if evaluation.labels_hidden else 4,
    )
    return replace(evaluation, marks=marks)
