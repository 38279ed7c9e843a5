"""``class_probabilities``: each case's probability of each of K classes, rows summing to 1.

Scored by the multiclass metrics (macro AUC, balanced accuracy, quadratic weighted kappa
for ordered grades...) and reported class by class with a confusion matrix, whose columns
a hidden split's report leaves out where too few cases were predicted for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from grader import disclosure
from grader.kinds._base import (
    OutputKind,
    ReportSection,
    Scored,
    ViewDisclosure,
    section_template,
)
from grader.kinds._contract import OutputContract
from grader.kinds._files import InvalidOutput
from grader.kinds._registry import register_kind
from grader.kinds._scoring import read_rows, score_metrics
from grader.metrics import (
    ROW_SUM_TOLERANCE,
    MetricResult,
    multiclass_confusion_matrix,
    per_class_roc_auc,
    probability_row_problem,
    sensitivity,
)

if TYPE_CHECKING:
    from grader.evaluation import Evaluation, PreparedSplit
    from grader.tasks import Task


class ClassProbabilitiesContract(OutputContract):
    kind: Literal["class_probabilities"] = Field(
        description="An array (n_cases, n_classes), each row the probabilities of the "
        "classes, summing to 1."
    )
    classes: dict[Annotated[int, Field(ge=0)], str] = Field(
        description="Each class's label 0..K-1 and name, e.g. {0: no DR, 1: mild}; column k of "
        "the predictions is class k."
    )
    ordinal: bool = Field(
        default=False,
        description="The classes are ordered grades (a miss by two grades is worse than a miss "
        "by one), as quadratic_weighted_kappa assumes.",
    )

    @model_validator(mode="before")
    @classmethod
    def _classes_given(cls, value: Any) -> Any:
        if isinstance(value, dict) and not value.get("classes"):
            raise ValueError(
                "kind 'class_probabilities' needs 'classes', each label 0..K-1 with its name, "
                "e.g. {0: no DR, 1: mild, 2: moderate}"
            )
        return value

    @model_validator(mode="after")
    def _labels_are_columns(self) -> ClassProbabilitiesContract:
        labels = sorted(self.classes)
        if labels != list(range(len(labels))) or len(labels) < 2:
            raise ValueError(
                f"classes: the labels must be 0..K-1 with K >= 2, one per column of the "
                f"predictions; got {labels}"
            )
        return self

    @property
    def n_classes(self) -> int:
        """K, the number of columns of the predictions."""
        return len(self.classes)

    def describe(self) -> str:
        names = ", ".join(f"{k} {name}" for k, name in sorted(self.classes.items()))
        return (
            f"a float numpy array of shape (n_cases, {len(self.classes)}), in input order: "
            f"row i holds case i's probability of each class (column k is class k: "
            f"{names}), each in [0, 1] and the row summing to 1 within "
            f"{ROW_SUM_TOLERANCE:g} (apply a softmax: nothing is renormalised for you)"
        )

    def metric_defaults(self) -> dict[str, Any]:
        return {"n_classes": self.n_classes}


STARTER = '''"""Starter submission for {task_id}: replace the model, keep the two functions.

load_model(artifacts_dir) is called once with this folder (read-only in the sandbox);
predict(model, inputs) gets {inputs} and must return {output}.
Check it with:  medgrade check . --task {task_id}
"""

import numpy as np


def load_model(artifacts_dir: str) -> np.ndarray:
    # A real model would load its weights here, e.g. torch.load(Path(artifacts_dir) / "model.pt").
    # The training class frequencies: what a model that learnt nothing predicts.
    return np.array({frequencies!r})


def predict(model: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    # One row per case, one column per class, each row summing to 1.
    return np.tile(model, (len(inputs), 1))
'''


@dataclass(frozen=True)
class ClassRow:
    """One class of a multiclass task: its one-vs-rest AUC and its sensitivity (recall at
    the argmax), each with its 95% CI, and how many cases it has and was predicted for."""

    label: int
    name: str
    n_cases: int
    n_predicted: int
    roc_auc: MetricResult
    sensitivity: MetricResult


@dataclass(frozen=True)
class ClassSummary:
    """The per-class view of a multiclass run, for the report.

    ``confusion[i][j]`` counts the cases of true class ``i`` whose argmax is ``j``.  On a
    split whose labels are hidden, a predicted class with fewer than
    ``min_predicted_shown`` cases has its column left out (None): the student knows which
    cases they predicted it for, so its cells would tell those cases' labels.
    """

    rows: tuple[ClassRow, ...]
    confusion: tuple[tuple[int | None, ...], ...]
    min_predicted_shown: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": [
                {
                    "label": row.label,
                    "name": row.name,
                    "n_cases": row.n_cases,
                    "n_predicted": row.n_predicted,
                    "roc_auc": row.roc_auc.to_dict(),
                    "sensitivity": row.sensitivity.to_dict(),
                }
                for row in self.rows
            ],
            "confusion": [list(row) for row in self.confusion],
            "min_predicted_shown": self.min_predicted_shown,
        }

    def json_fields(self) -> dict[str, Any]:
        return {"classes": self.to_dict()}


#: Options of a class-probability metric that the grader fills from the task (its number
#: of classes, the patient of each case), never a task spec.
_TASK_OPTIONS = ("n_classes", "groups")

#: The report's per-class table and confusion matrix (:class:`~grader.kinds.ReportSection`).
REPORT_SECTIONS = section_template(__package__, "templates/class_probabilities.html.j2")


@register_kind
class ClassProbabilities(OutputKind):
    name = "class_probabilities"
    contract = ClassProbabilitiesContract
    results = ClassSummary

    def spec_options(self, metric: str, options: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(option for option in options if option not in _TASK_OPTIONS)

    def metric_example(self) -> tuple[Any, Any, dict[str, Any]]:
        probabilities = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
        return [0, 1, 2], probabilities, {"n_classes": 3}

    def read(self, output_dir: Path, prepared: PreparedSplit) -> np.ndarray:
        rows = read_rows(output_dir, prepared.n_cases)
        return check_class_probabilities(rows, _contract(prepared), prepared.n_cases)

    def score(self, prepared: PreparedSplit, predictions: np.ndarray) -> Scored:  # type: ignore[override]
        return Scored(
            metrics=score_metrics(prepared, predictions),
            kind_results=_class_summary(prepared, predictions),
        )

    def report_sections(self, evaluation: Evaluation, task: Task) -> list[ReportSection]:
        classes = evaluation.kind_results
        if not isinstance(classes, ClassSummary):
            return []
        variables = {"classes": classes, "confusion": _confusion(classes)}
        return [ReportSection(REPORT_SECTIONS, variables)]

    def view_disclosure(self, prepared: PreparedSplit, scored: Scored) -> ViewDisclosure:
        classes = scored.kind_results
        if not isinstance(classes, ClassSummary):
            return ViewDisclosure()
        numbers = 6 * len(classes.rows)  # per class: AUC and sensitivity, value and interval
        counts = sum(
            math.log2(row.n_predicted + 1) * (len(classes.rows) - 1)
            for row in classes.rows
            if row.n_predicted >= classes.min_predicted_shown
        )
        return ViewDisclosure(
            (
                ("per-class table", disclosure.number_bits(numbers)),
                ("confusion matrix columns", counts),
            )
        )

    def null_model(self, contract: OutputContract, train_labels: np.ndarray) -> Any:
        assert isinstance(contract, ClassProbabilitiesContract)
        counts = np.bincount(train_labels, minlength=contract.n_classes)
        return (counts / len(train_labels)).tolist()

    def starter(self, contract: OutputContract, task_id: str, inputs: str, null: Any) -> str:
        return STARTER.format(
            task_id=task_id, inputs=inputs, output=contract.describe(), frequencies=null
        )

    def bundle_labels(self, contract: OutputContract) -> str:
        assert isinstance(contract, ClassProbabilitiesContract)
        names = ", ".join(f"{k} {name}" for k, name in sorted(contract.classes.items()))
        return f"`inputs`, `labels` (the class of each case: {names})"


def _contract(prepared: PreparedSplit) -> ClassProbabilitiesContract:
    contract = prepared.task.spec.output
    assert isinstance(contract, ClassProbabilitiesContract)
    return contract


def check_class_probabilities(
    array: np.ndarray, contract: ClassProbabilitiesContract, n_cases: int
) -> np.ndarray:
    """Check an (n_cases, K) matrix of class probabilities; return it as float64.

    The metric engine's policy, with the case named for the student: every value finite
    and in [0, 1], every row summing to 1 within ``ROW_SUM_TOLERANCE``; nothing is clipped,
    renormalised or passed through a softmax on the student's behalf.
    """
    k = len(contract.classes)
    expected = (
        f"({n_cases}, {k}): one row per case, one column per class ("
        + ", ".join(f"{label} {name}" for label, name in sorted(contract.classes.items()))
        + ")"
    )
    if array.dtype.kind not in "biuf":
        raise InvalidOutput(f"predictions must be numbers; got dtype {array.dtype}")
    if array.ndim != 2:
        hint = (
            ": return every class's probability, not the predicted class (e.g. "
            "torch.softmax(logits, dim=1))"
            if array.ndim == 1
            else ""
        )
        raise InvalidOutput(
            f"predictions have shape {array.shape}; expected {expected}{hint}", "wrong_shape"
        )
    if array.shape[0] != n_cases:
        raise InvalidOutput(
            f"predictions have {array.shape[0]} rows for {n_cases} cases; expected {expected}",
            "wrong_shape",
        )
    if array.shape[1] != k:
        raise InvalidOutput(
            f"predictions have {array.shape[1]} columns for the task's {k} classes; expected "
            f"{expected}",
            "wrong_shape",
        )
    values = array.astype(np.float64)
    problem = probability_row_problem(values)
    if problem is None:
        return values
    case = f"case {problem.row}, {_row(values[problem.row])}"
    if problem.kind == "non_finite":
        raise InvalidOutput(
            f"{problem.n_rows} of {n_cases} cases have NaN or infinite probabilities (first: "
            f"{case}); every case needs finite probabilities (check for a division by zero or "
            "a diverged model)",
            "non_finite",
        )
    if problem.kind == "out_of_range":
        raise InvalidOutput(
            f"{problem.n_rows} of {n_cases} cases have values outside [0, 1] (worst: {case}); "
            "return probabilities, e.g. a softmax over the logits",
            "out_of_range",
        )
    raise InvalidOutput(
        f"{problem.n_rows} of {n_cases} cases have class probabilities that do not sum to 1 "
        f"within {ROW_SUM_TOLERANCE:g} (worst: {case}, sum {values[problem.row].sum():.6g}); "
        f"apply a softmax over all {k} classes (the grader never renormalises)",
        "out_of_range",
    )


def _row(values: np.ndarray) -> str:
    return (
        "["
        + ", ".join(f"{v:.4g}" for v in values[:10])
        + (", ..." if len(values) > 10 else "")
        + "]"
    )


def _class_summary(prepared: PreparedSplit, probabilities: np.ndarray) -> ClassSummary:
    """Each class's AUC (DeLong CI) and sensitivity (Wilson CI), and the confusion matrix
    at the argmax, with the columns a hidden split must not show left out."""
    classes = _contract(prepared).classes
    k = len(classes)
    labels = prepared.labels
    predicted = np.argmax(probabilities, axis=1)
    confusion = multiclass_confusion_matrix(labels, probabilities, n_classes=k)
    aucs = per_class_roc_auc(labels, probabilities, n_classes=k)
    floor = disclosure.MIN_CASES if prepared.labels_hidden else 1
    n_predicted = confusion.sum(axis=0)
    # A class predicted for no case has a column of zeros, which tells nothing.
    shown = (n_predicted >= floor) | (n_predicted == 0)
    rows = tuple(
        ClassRow(
            label=label,
            name=classes[label],
            n_cases=int(confusion[label].sum()),
            n_predicted=int(confusion[:, label].sum()),
            roc_auc=aucs[label],
            # Recall of class k at the argmax: a binary sensitivity of "predicted k".
            sensitivity=sensitivity(labels == label, (predicted == label).astype(np.float64)),
        )
        for label in range(k)
    )
    return ClassSummary(
        rows=rows,
        confusion=tuple(
            tuple(int(count) if shown[j] else None for j, count in enumerate(row))
            for row in confusion
        ),
        min_predicted_shown=floor,
    )


#: The deepest shade of a confusion-matrix cell (a whole row in one cell); dark text stays
#: readable on it.
_MAX_SHADE = 0.45


def _confusion(summary: ClassSummary) -> dict[str, object]:
    """The confusion matrix's rows for the report: each cell's text, whether it is on the
    diagonal, and its shade (its share of the row; none for a hidden cell)."""
    rows = []
    for row, counts in zip(summary.rows, summary.confusion, strict=True):
        cells = []
        for column, count in enumerate(counts):
            share = count / row.n_cases if count is not None and row.n_cases else 0.0
            cells.append(
                {
                    "text": "\u2014" if count is None else str(count),
                    "diagonal": column == row.label,
                    "shade": f"{_MAX_SHADE * share:.3f}" if share else None,
                }
            )
        rows.append({"label": f"{row.label} {row.name}", "cells": cells})
    hidden = any(count is None for counts in summary.confusion for count in counts)
    return {"rows": rows, "hidden": hidden}
