"""``multilabel_probabilities``: one probability per case and label, each label on its own
(Tox21's twelve assays of a molecule, the fourteen findings of a chest X-ray).

A case's label may not be measured (a blank in the data, NaN in the label matrix). The
student still gives every probability, since they cannot know which labels are missing;
scoring masks the missing ones: label ``j`` is scored on the cases whose label ``j`` is known,
and a missing label is never counted as a negative. Scored by the multi-label metrics
(mean ROC AUC over labels, macro average precision); the report adds a table per label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator

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
from grader.metrics import MetricResult, per_label_roc_auc

if TYPE_CHECKING:
    from grader.evaluation import Evaluation, PreparedSplit
    from grader.tasks import Task


class MultilabelProbabilitiesContract(OutputContract):
    kind: Literal["multilabel_probabilities"] = Field(
        description="An array (n_cases, n_labels), each entry the probability that the case "
        "has that label, each label on its own (not a softmax over labels)."
    )
    labels: list[str] = Field(
        min_length=1,
        description="The labels' names in column order, e.g. [NR-AR, NR-AhR, SR-p53]; column j "
        "of the predictions is label j.",
    )

    @field_validator("labels")
    @classmethod
    def _unique(cls, labels: list[str]) -> list[str]:
        repeated = sorted({name for name in labels if labels.count(name) > 1})
        if repeated:
            raise ValueError(f"each label is one column; named more than once: {repeated}")
        return labels

    def describe(self) -> str:
        names = ", ".join(f"{j} {name}" for j, name in enumerate(self.labels))
        return (
            f"a float numpy array of shape (n_cases, {len(self.labels)}), in input order: row "
            f"i holds case i's probability of each label (column j is label j: {names}), each "
            "in [0, 1] and on its own (a sigmoid per label, not a softmax); give every "
            "label of every case: a label that was not measured for a case is not scored"
        )

    def predicted(self) -> str:
        return "each label"


STARTER = '''"""Starter submission for {task_id}: replace the model, keep the two functions.

load_model(artifacts_dir) is called once with this folder (read-only in the sandbox);
predict(model, inputs) gets {inputs} and must return {output}.
Check it with:  medgrade check . --task {task_id}
"""

import numpy as np


def load_model(artifacts_dir: str) -> np.ndarray:
    # A real model would load its weights here, e.g. torch.load(Path(artifacts_dir) / "model.pt").
    # Each label's training prevalence: what a model that learnt nothing predicts.
    return np.array({prevalences!r})


def predict(model: np.ndarray, inputs) -> np.ndarray:
    # One row per case, one column per label, each probability on its own.
    return np.tile(model, (len(inputs), 1))
'''


#: A self-check of a grouped split lists this many worst-predicted groups.  A scaffold split's
#: validation and test hold the rarest scaffolds, most of them one molecule each, so a group
#: of one case counts as any other.
WORST_GROUPS_SHOWN = 10


@dataclass(frozen=True)
class LabelRow:
    """One label of a multi-label task: the cases whose label is known, how many of them are
    positive, and the label's ROC AUC on them with its DeLong CI."""

    label: int
    name: str
    n_known: int
    n_positive: int
    roc_auc: MetricResult


@dataclass(frozen=True)
class WorstGroup:
    """A group of cases of a grouped split (a scaffold, a patient) that the run predicted
    worst: its mean log loss over the known labels of its cases, and the label that cost
    most.  Only made on a split whose labels the student may see, never on the hidden one."""

    group: str
    n_cases: int
    n_known: int
    n_positive: int
    mean_log_loss: float
    worst_label: str


@dataclass(frozen=True)
class LabelSummary:
    """The per-label view of a multi-label run, for the report and ``--json``; with a
    grouped split, on a self-check, the worst-predicted groups (``group_key`` names them)."""

    rows: tuple[LabelRow, ...]
    group_key: str | None = None
    worst_groups: tuple[WorstGroup, ...] = ()

    def json_fields(self) -> dict[str, Any]:
        labels = {
            "labels": [
                {
                    "label": row.label,
                    "name": row.name,
                    "n_known": row.n_known,
                    "n_positive": row.n_positive,
                    "roc_auc": row.roc_auc.to_dict(),
                }
                for row in self.rows
            ]
        }
        if not self.worst_groups:
            return labels
        worst = [
            {
                self.group_key or "group": group.group,
                "n_cases": group.n_cases,
                "n_known": group.n_known,
                "n_positive": group.n_positive,
                "mean_log_loss": group.mean_log_loss,
                "worst_label": group.worst_label,
            }
            for group in self.worst_groups
        ]
        return labels | {"worst_groups": worst}


#: The report's per-label table (:class:`~grader.kinds.ReportSection`).
REPORT_SECTIONS = section_template(__package__, "templates/multilabel_probabilities.html.j2")


@register_kind
class MultilabelProbabilities(OutputKind):
    name = "multilabel_probabilities"
    contract = MultilabelProbabilitiesContract
    results = LabelSummary

    def spec_options(self, metric: str, options: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(option for option in options if option != "groups")  # the patients

    def metric_example(self) -> tuple[Any, Any, dict[str, Any]]:
        labels = [[0, 1], [1, math.nan], [1, 0], [0, 1]]
        return labels, [[0.2, 0.9], [0.8, 0.5], [0.6, 0.3], [0.4, 0.6]], {}

    def read(self, output_dir: Path, prepared: PreparedSplit) -> np.ndarray:
        rows = read_rows(output_dir, prepared.n_cases)
        return check_multilabel_probabilities(rows, _contract(prepared), prepared.n_cases)

    def score(self, prepared: PreparedSplit, predictions: np.ndarray) -> Scored:  # type: ignore[override]
        return Scored(
            metrics=score_metrics(prepared, predictions),
            kind_results=_label_summary(prepared, predictions),
        )

    def report_sections(self, evaluation: Evaluation, task: Task) -> list[ReportSection]:
        summary = evaluation.kind_results
        if not isinstance(summary, LabelSummary):
            return []
        return [ReportSection(REPORT_SECTIONS, {"summary": summary})]

    def view_disclosure(self, prepared: PreparedSplit, scored: Scored) -> ViewDisclosure:
        summary = scored.kind_results
        if not isinstance(summary, LabelSummary):
            return ViewDisclosure()
        # Per label: its AUC and interval (three numbers) and its two counts.
        counts = sum(
            math.log2(row.n_known + 1) + math.log2(row.n_positive + 1) for row in summary.rows
        )
        return ViewDisclosure(
            (("per-label table", disclosure.number_bits(3 * len(summary.rows)) + counts),)
        )

    def null_model(self, contract: OutputContract, train_labels: np.ndarray) -> Any:
        labels = np.asarray(train_labels, dtype=np.float64)
        known = ~np.isnan(labels)
        positives = np.where(known, labels, 0.0).sum(axis=0)
        counts = known.sum(axis=0)
        # A label measured for no training case: 0.5, which ranks nothing either.
        prevalence = np.divide(positives, counts, out=np.full(counts.shape, 0.5), where=counts > 0)
        return [round(float(p), 4) for p in prevalence]

    def starter(self, contract: OutputContract, task_id: str, inputs: str, null: Any) -> str:
        return STARTER.format(
            task_id=task_id, inputs=inputs, output=contract.describe(), prevalences=null
        )

    def bundle_labels(self, contract: OutputContract) -> str:
        assert isinstance(contract, MultilabelProbabilitiesContract)
        return (
            f"`inputs`, `labels` (float, shape (n_cases, {len(contract.labels)}): 1, 0, or NaN "
            f"where a label was not measured; columns {', '.join(contract.labels)})"
        )


def _contract(prepared: PreparedSplit) -> MultilabelProbabilitiesContract:
    contract = prepared.task.spec.output
    assert isinstance(contract, MultilabelProbabilitiesContract)
    return contract


def check_multilabel_probabilities(
    array: np.ndarray, contract: MultilabelProbabilitiesContract, n_cases: int
) -> np.ndarray:
    """Check dtype, shape, finiteness and range; return the predictions as float64 (n, L)."""
    width = len(contract.labels)
    if array.dtype.kind not in "biuf":
        raise InvalidOutput(f"predictions must be numbers; got dtype {array.dtype}")
    if width == 1 and array.shape == (n_cases,):
        array = array[:, None]
    if array.shape != (n_cases, width):
        columns = f"({n_cases}, {width}): one row per case, one column per label"
        found = f"predictions have shape {array.shape}; expected {columns}"
        if array.ndim == 2 and array.shape[0] == n_cases:
            found += f" ({', '.join(contract.labels)}), even for a label not measured for a case"
        raise InvalidOutput(found, "wrong_shape")
    values = array.astype(np.float64)
    not_finite = np.argwhere(~np.isfinite(values))
    if not_finite.size:
        case, label = (int(v) for v in not_finite[0])
        raise InvalidOutput(
            f"{len(not_finite)} of {values.size} predictions are NaN or infinite (the first: "
            f"case {case}, label {label} {contract.labels[label]}); give a probability for "
            "every label of every case, even one whose label is missing: it is not scored",
            "non_finite",
        )
    outside = int(np.count_nonzero((values < 0) | (values > 1)))
    if outside:
        raise InvalidOutput(
            f"{outside} of {values.size} predictions are outside [0, 1] (min "
            f"{values.min():.4g}, max {values.max():.4g}); return probabilities, e.g. apply "
            "a sigmoid to each label's logit (not a softmax across labels)",
            "out_of_range",
        )
    return values


def _label_summary(prepared: PreparedSplit, predictions: np.ndarray) -> LabelSummary:
    labels = np.asarray(prepared.labels, dtype=np.float64)
    aucs = per_label_roc_auc(labels, predictions)  # each on its known cases, counted in n
    rows = tuple(
        LabelRow(
            label=j,
            name=name,
            n_known=aucs[j].n,
            n_positive=int(np.count_nonzero(labels[:, j] == 1.0)),
            roc_auc=aucs[j],
        )
        for j, name in enumerate(_contract(prepared).labels)
    )
    group_key = prepared.task.spec.split.group_key
    if prepared.labels_hidden or group_key is None or group_key not in prepared.attributes:
        return LabelSummary(rows)
    return LabelSummary(
        rows,
        group_key,
        _worst_groups(prepared.attributes[group_key], labels, predictions, _contract(prepared)),
    )


def _worst_groups(
    groups: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray,
    contract: MultilabelProbabilitiesContract,
) -> tuple[WorstGroup, ...]:
    """The groups with the highest mean log loss over their known labels (a missing label
    costs nothing), worst first; ties by name."""
    known = ~np.isnan(labels)
    truth = np.where(known, labels, 0.0)
    clipped = np.clip(predictions, 1e-7, 1 - 1e-7)
    loss = np.where(known, -(truth * np.log(clipped) + (1 - truth) * np.log1p(-clipped)), 0.0)
    names, index = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    n_cases = np.bincount(index, minlength=len(names))
    n_known = np.bincount(index, weights=known.sum(axis=1), minlength=len(names))
    total = np.bincount(index, weights=loss.sum(axis=1), minlength=len(names))
    mean = np.divide(total, n_known, out=np.zeros(len(names)), where=n_known > 0)
    eligible = np.flatnonzero(n_known > 0)
    worst = eligible[np.lexsort((names[eligible], -mean[eligible]))][:WORST_GROUPS_SHOWN]
    shown = []
    for g in worst.tolist():
        members = index == g
        shown.append(
            WorstGroup(
                group=str(names[g]),
                n_cases=int(n_cases[g]),
                n_known=int(n_known[g]),
                n_positive=int(np.count_nonzero(truth[members] == 1.0)),
                mean_log_loss=float(mean[g]),
                worst_label=contract.labels[int(np.argmax(loss[members].sum(axis=0)))],
            )
        )
    return tuple(shown)
