"""The journeys, one module each, as plain functions the CLI calls (a notebook or a script
can call them too): a student's self-check (:func:`check`), a marker's batch
(:func:`grade`), the demo (:func:`demo`) and a task author's
validation (:func:`validate_task`).  The Jupyter front end,
``from grader import check``, is :mod:`grader.notebooks`.
"""

from grader.journeys._check import check
from grader.journeys._demo import DEMO_TASK, default_demo_out, demo, demo_submissions
from grader.journeys._grade import (
    WARM_POOL_MIN_SUBMISSIONS,
    BatchResult,
    default_workers,
    grade,
    sandbox_identity,
)
from grader.journeys._measure import near_a_penalty
from grader.journeys._validate import ValidationReport, validate_task

__all__ = [
    "DEMO_TASK",
    "WARM_POOL_MIN_SUBMISSIONS",
    "BatchResult",
    "ValidationReport",
    "check",
    "default_demo_out",
    "default_workers",
    "demo",
    "demo_submissions",
    "grade",
    "near_a_penalty",
    "sandbox_identity",
    "validate_task",
]
