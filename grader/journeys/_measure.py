"""CPU time near a penalty's threshold is measured again, on its own, and the lower time counts."""

from __future__ import annotations

import math
from dataclasses import replace

from grader.evaluation import Evaluation
from grader.rubric import Rubric

#: A run whose CPU time is within this fraction of a penalty's threshold is measured again.
REMEASURE_MARGIN = 0.15


def near_a_penalty(evaluation: Evaluation, rubric: Rubric) -> bool:
    """Whether ``evaluation``'s CPU time is close enough to a penalty's threshold that the
    little CPU time varies with what runs beside it (shared caches and memory bandwidth)
    could decide the penalty: then it is run once more on its own and the lower time
    counts, rather than the penalty being left provisional."""
    cpu = cpu_time(evaluation)
    return evaluation.failure is None and any(
        abs(cpu - penalty.cpu_time_over_s) <= REMEASURE_MARGIN * penalty.cpu_time_over_s
        for penalty in rubric.penalties
    )


def measured_again(first: Evaluation, again: Evaluation) -> Evaluation:
    """Of two runs of one submission, the one with the lower CPU time, holding both
    measurements."""
    kept = again if cpu_time(again) < cpu_time(first) else first
    times = tuple(None if e.run is None else e.run.cpu_time_s for e in (first, again))
    return replace(kept, cpu_time_measurements=times)


def cpu_time(evaluation: Evaluation) -> float:
    run = evaluation.run
    return math.inf if run is None or run.cpu_time_s is None else run.cpu_time_s
