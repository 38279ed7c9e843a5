"""The record of one submission's run on one split: what the store keeps, the reports show
and ``--json`` prints."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grader._version import __version__
from grader.disclosure import Disclosure
from grader.environment import EnvironmentCheck
from grader.metrics import MetricResult, SubgroupReport
from grader.outcome import Failure, RunInfo
from grader.rubric import Marks

#: The marks of an evaluation before :func:`grader.evaluation.mark` has applied the rubric.
UNMARKED = Marks(marks=(), total=0.0, max_points=0.0)


@dataclass(frozen=True)
class Evaluation:
    """Everything known about one submission's run on one split."""

    student_id: str
    submission_path: str
    submission_sha256: str | None
    task_id: str
    task_version: str
    split: str
    labels_hidden: bool
    status: str  # "graded" or "failed"
    failure: Failure | None
    metrics: dict[str, MetricResult]
    marks: Marks
    run: RunInfo | None
    data_sha256: str
    split_sha256: str
    subgroups: tuple[SubgroupReport, ...] = ()
    #: What the task's output kind computed besides the metrics (a binary task's curves, a
    #: multiclass task's per-class table, a segmentation task's structures): None, or an
    #: instance of the kind's :attr:`grader.kinds.OutputKind.results`, whose type is the
    #: kind's own, so this field is typed Any; the store reads it back with the kind's type.
    kind_results: Any = None
    medgrade_version: str = __version__
    created_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    report_path: str | None = None
    #: On a hidden split: the most its report can tell of the labels.
    disclosure: Disclosure | None = None
    #: What the student most likely got wrong, and how to fix it (:mod:`grader.hints`).
    hints: tuple[str, ...] = ()
    #: For the marker: what to look at (a copy of the reference, predictions that change
    #: from call to call).
    flags: tuple[str, ...] = ()
    #: The submission's model files (not code) and the predictions, by sha256: what
    #: copies of one another or of the reference share.
    file_sha256: tuple[tuple[str, str], ...] = ()
    #: The model files' weight tensors: (file sha256, tensor sha256, bytes)
    #: (:func:`grader.integrity.tensor_digests`).
    tensor_sha256: tuple[tuple[str, str, int], ...] = ()
    predictions_sha256: str | None = None
    #: Every case predicted the same (a prevalence model's): equal predictions of two such
    #: runs say nothing about copying.  None: not known (stored by an earlier medgrade).
    predictions_constant: bool | None = None
    #: The predictions, flattened and rounded to 6 decimals, for outputs of at most 100,000
    #: values (not label maps): what the class's correlated-predictions flags compare
    #: (:mod:`grader.integrity`).
    prediction_values: tuple[float, ...] = field(default=(), repr=False)
    #: The submission's Python (:func:`grader.submission.submission_code`): what the class's
    #: code-similarity flags compare (:mod:`grader.integrity`).
    source_code: str | None = field(default=None, repr=False)
    #: A run near a penalty's threshold is measured again on its own: the CPU time of each
    #: run (None: it reported none); the lower one counts (this run is that one).
    cpu_time_measurements: tuple[float | None, ...] = ()
    #: The run's packages compared with the task's declared environment.
    environment: EnvironmentCheck | None = None
    #: A notebook submission's notebook as the sandbox ran it (cell outputs included).
    executed_notebook: str | None = field(default=None, repr=False)

    def with_report(self, path: Path) -> Evaluation:
        return replace(self, report_path=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document for one submission (schema in the README)."""
        return {
            "student": self.student_id,
            "submission": {"path": self.submission_path, "sha256": self.submission_sha256},
            "task": {"id": self.task_id, "version": self.task_version},
            "split": self.split,
            "labels_hidden": self.labels_hidden,
            "status": self.status,
            "failure": None if self.failure is None else self.failure.to_dict(),
            "metrics": {name: result.to_dict() for name, result in self.metrics.items()},
            "marks": self.marks.to_dict(),
            "subgroups": [report.to_dict() for report in self.subgroups],
            **({} if self.kind_results is None else self.kind_results.json_fields()),
            "run": None
            if self.run is None
            else {
                k: v
                for k, v in self.run.to_dict().items()
                if k not in {"stdout_tail", "stderr_tail"}
            },
            "data_sha256": self.data_sha256,
            "split_sha256": self.split_sha256,
            "medgrade_version": self.medgrade_version,
            "created_at": self.created_at,
            "report": self.report_path,
            "disclosure": None if self.disclosure is None else self.disclosure.to_dict(),
            "hints": list(self.hints),
            "flags": list(self.flags),
            "environment": None if self.environment is None else self.environment.to_dict(),
            "cpu_time_measurements": list(self.cpu_time_measurements),
        }
