"""One-line hints for what a student most likely got wrong, from what a run showed.

Each hint names the symptom and the fix.  They are advice, never marks: the rubric is
applied as ever, and a hint appears in the terminal, the report and the ``--json``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from grader.metrics import MetricResult
from grader.outcome import Failure

#: An AUC this far below a coin flip's means the ranking is backwards, not weak.
INVERTED_AUC = 0.3
#: An absolute path of the student's machine in an error message (POSIX or Windows).
_ABSOLUTE_PATH = re.compile(
    r"(?:'|\")(/(?:home|Users|mnt|content|root|media|tmp)/[^'\"]+|[A-Za-z]:\\[^'\"]+)"
)


def hints(
    *,
    failure: Failure | None,
    metrics: Mapping[str, MetricResult],
    record: Mapping[str, Any] | None,
    predicted: str,
) -> tuple[str, ...]:
    """Hints for one run: inverted scores, a weights path of the student's own machine,
    and predictions that change from one call of predict to the next."""
    found: list[str] = []
    auc = metrics.get("roc_auc") or metrics.get("macro_roc_auc")
    if auc is not None and auc.defined and auc.value < INVERTED_AUC:
        found.append(
            f"Your scores rank the cases backwards (ROC AUC {auc.value:.2f}, far below the 0.5 "
            f"of a coin flip): predict must return the probability of {predicted}; if your "
            "model gives the probability of the other class, return 1 - p."
        )
    if failure is not None and "FileNotFoundError" in failure.message + failure.detail:
        path = _ABSOLUTE_PATH.search(failure.message + failure.detail)
        if path is not None:
            found.append(
                f"Your code opens {path.group(1)!r}, a path on your own machine: the grader "
                "has only your submission folder. Load files relative to artifacts_dir, e.g. "
                "os.path.join(artifacts_dir, 'model.pt')."
            )
    determinism = (record or {}).get("determinism") or {}
    changed = determinism.get("cases_changed", 0)
    if changed:
        difference = determinism.get("max_difference", math.inf)
        found.append(
            f"predict gave different outputs for the same inputs ({changed} of "
            f"{determinism.get('n_cases', '?')} cases changed, by up to {difference:.3g}): "
            "your marks would change from run to run. The usual cause is a model left in "
            "training mode (call model.eval(), so dropout and batch norm are fixed), or "
            "sampling without a fixed seed."
        )
    return tuple(found)
