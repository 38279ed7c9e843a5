"""One submission through the whole path: prepare the split, run, score, mark.

This is the core every journey shares (student self-check, marker batch, task
validation): the split is prepared once on the host, where its labels stay, and only its
inputs are written where a sandbox can read them (:mod:`._split`); a run in a sandbox
(:mod:`._run`) is scored on the host (:mod:`._scoring`) into the typed run record
(:mod:`._record`), which :func:`mark`, the one place the rubric is applied, marks.
"""

from grader.evaluation._marking import mark
from grader.evaluation._record import Evaluation
from grader.evaluation._run import (
    Fingerprints,
    evaluate,
    failed_evaluation,
    fingerprint,
    sandbox_limits,
)
from grader.evaluation._scoring import assess, predictions_digest
from grader.evaluation._split import PreparedSplit, prepare_split

__all__ = [
    "Evaluation",
    "Fingerprints",
    "PreparedSplit",
    "assess",
    "evaluate",
    "failed_evaluation",
    "fingerprint",
    "mark",
    "predictions_digest",
    "prepare_split",
    "sandbox_limits",
]
