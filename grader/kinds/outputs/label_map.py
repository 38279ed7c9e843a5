"""``label_map``: one integer label map per case, of the shape of its input volume.

Scored by the segmentation metrics (Dice, HD95, surface Dice...) structure by structure,
from one evaluation of every case; a self-check report draws the worst cases' slices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from grader.charts import Spread, segmentation_overlay, spread_cell, strip_chart
from grader.kinds._base import OutputKind, ReportSection, Scored, section_template
from grader.kinds._contract import OutputContract
from grader.kinds._files import InvalidOutput, read_npy
from grader.kinds._registry import register_kind
from grader.metrics import (
    SegmentationReport,
    SegmentationSummary,
    metric_title,
    segmentation_metrics,
)
from sandbox import wire

if TYPE_CHECKING:
    from grader.evaluation import Evaluation, PreparedSplit
    from grader.tasks import Task

#: A self-check report of a segmentation task draws this many worst cases (by mean Dice).
WORST_CASES_SHOWN = 3


class LabelMapContract(OutputContract):
    kind: Literal["label_map"] = Field(
        description="One integer label map per case, of the shape of its input volume (0 "
        "background, the structures' labels elsewhere)."
    )
    structures: dict[Annotated[int, Field(gt=0, lt=256)], str] = Field(
        description="Each structure's label and name, e.g. {1: anterior}.",
    )

    @model_validator(mode="before")
    @classmethod
    def _structures_given(cls, value: Any) -> Any:
        if isinstance(value, dict) and not value.get("structures"):
            raise ValueError("kind 'label_map' needs 'structures', e.g. {1: anterior}")
        return value

    def describe(self) -> str:
        names = ", ".join(f"{k} {name}" for k, name in sorted(self.structures.items()))
        return (
            "a list with one integer label map per case, in input order, each of its "
            f"image's shape: 0 background, {names}"
        )


STARTER = '''"""Starter submission for {task_id}: replace the model, keep the two functions.

load_model(artifacts_dir) is called once with this folder (read-only in the sandbox);
predict(model, inputs) gets {inputs} and must return {output}.
Check it with:  medgrade check . --task {task_id}
"""

import numpy as np


def load_model(artifacts_dir: str) -> None:
    # A real model would load its weights here, e.g. torch.load(Path(artifacts_dir) / "model.pt").
    return None


def predict(model: None, inputs: list[dict]) -> list[np.ndarray]:
    # Every voxel background: what a model that learnt nothing predicts.
    return [np.zeros(case["image"].shape, dtype=np.uint8) for case in inputs]
'''


@dataclass(frozen=True)
class WorstCase:
    """One badly segmented case for the self-check report: the slice through the most
    reference voxels, with the reference and predicted structures (all of them, as one mask).

    Only made on a split whose labels the student may see, never on the hidden test split.
    """

    case: int
    dice: float
    axis: int
    index: int
    image: list[list[float]]
    reference: list[list[int]]
    prediction: list[list[int]]


@dataclass(frozen=True)
class LabelMapResults:
    """A segmentation run's results beyond its metrics: each structure's summary, then the
    mean over structures, and (on a self-check only) the worst cases, drawn in the report."""

    structures: tuple[SegmentationSummary, ...]
    worst_cases: tuple[WorstCase, ...] = ()

    def json_fields(self) -> dict[str, Any]:
        return {"structures": [summary.to_dict() for summary in self.structures]}


#: The report's per-structure table and worst cases (:class:`~grader.kinds.ReportSection`).
REPORT_SECTIONS = section_template(__package__, "templates/label_map.html.j2")
#: The class dashboard's per-structure spreads and strip charts.
CLASS_SECTIONS = section_template(__package__, "templates/label_map_class.html.j2")


@register_kind
class LabelMap(OutputKind):
    name = "label_map"
    contract = LabelMapContract
    results = LabelMapResults
    layout = "per_case"
    per_case_shape_of = "image"
    per_case_noun = "label map"
    per_case_expected = "an integer label map"
    input_layouts = frozenset({"cases"})
    #: A hidden split's segmentation report shows its metrics only, which the marks count.
    measures_disclosure = False

    def spec_options(self, metric: str, options: tuple[str, ...]) -> tuple[str, ...]:
        # The structures, spacings and patients come from the task; one surface tolerance
        # serves every segmentation metric, so only surface_dice states it.
        return ("tolerance_mm",) if metric == "surface_dice" else ()

    def metric_example(self) -> tuple[Any, Any, dict[str, Any]]:
        volume = np.zeros((4, 4, 4), dtype=np.uint8)
        volume[1:3, 1:3, 1:3] = 1
        return [volume], [volume], {"labels": [1]}

    def read(self, output_dir: Path, prepared: PreparedSplit) -> list[np.ndarray]:
        shapes = [np.shape(label_map) for label_map in prepared.labels]
        return load_label_maps(output_dir / wire.PER_CASE_DIR, _contract(prepared), shapes)

    def score(self, prepared: PreparedSplit, predictions: list[np.ndarray]) -> Scored:  # type: ignore[override]
        report = score_label_maps(prepared, predictions)
        spec = prepared.task.spec
        return Scored(
            metrics={metric.name: report.result(metric.name) for metric in spec.metrics},
            kind_results=LabelMapResults(
                structures=report.summaries,
                worst_cases=()
                if prepared.labels_hidden
                else _worst_cases(prepared, predictions, report.values("dice").mean(axis=1)),
            ),
        )

    def report_sections(self, evaluation: Evaluation, task: Task) -> list[ReportSection]:
        results = evaluation.kind_results
        if not isinstance(results, LabelMapResults) or not results.structures:
            return []
        worst = [
            segmentation_overlay(
                case.image,
                case.reference,
                case.prediction,
                title=f"Case {case.case}: Dice {case.dice:.3f}, slice {case.index}",
            )
            for case in results.worst_cases
        ]
        variables = {"structures": results.structures, "worst_case_charts": worst}
        return [ReportSection(REPORT_SECTIONS, variables)]

    def class_sections(self, results: Sequence[Any], task: Task) -> list[ReportSection]:
        summaries = [
            summary
            for run in results
            if isinstance(run, LabelMapResults)
            for summary in run.structures
        ]
        contract = task.spec.output
        if not summaries or not isinstance(contract, LabelMapContract):
            return []
        return [ReportSection(CLASS_SECTIONS, _structure_spreads(summaries, contract))]

    def null_model(self, contract: OutputContract, train_labels: np.ndarray) -> Any:
        return 0.0  # unused: the null model predicts background everywhere

    def starter(self, contract: OutputContract, task_id: str, inputs: str, null: Any) -> str:
        return STARTER.format(task_id=task_id, inputs=inputs, output=contract.describe())

    def bundle_labels(self, contract: OutputContract) -> str:
        assert isinstance(contract, LabelMapContract)
        names = ", ".join(f"{k} {name}" for k, name in sorted(contract.structures.items()))
        return (
            "one volume per case, `image_00000`, `image_00001`, ... (float32), its label map "
            f"`label_00000`, ... (uint8: 0 background, {names}), the voxel sizes "
            "`spacings_mm` (one row per case)"
        )


def _contract(prepared: PreparedSplit) -> LabelMapContract:
    contract = prepared.task.spec.output
    assert isinstance(contract, LabelMapContract)
    return contract


def load_label_maps(
    folder: Path, contract: LabelMapContract, shapes: list[tuple[int, ...]]
) -> list[np.ndarray]:
    """Load one label map per case from ``folder`` (``<position>.npy``) and check each
    against its case's shape and the contract's structures; return them as uint8."""
    allowed = np.array([0, *sorted(contract.structures)])
    label_maps = []
    for position, shape in enumerate(shapes):
        what = f"the label map of case {position}"
        # 8 bytes per voxel at most (int64), plus the header.
        limit = int(np.prod(shape)) * 8 + 4096
        array = read_npy(folder / f"{position:05d}.npy", limit, max_ndim=3, what=what)
        if array.shape != shape:
            raise InvalidOutput(
                f"{what} has shape {array.shape}; its image has shape {shape}", "wrong_shape"
            )
        if array.dtype.kind == "f":
            if not np.isfinite(array).all():
                raise InvalidOutput(f"{what} holds NaN or infinite values", "non_finite")
            if not np.array_equal(array, np.round(array)):
                raise InvalidOutput(
                    f"{what} holds fractional values: return integer labels (e.g. argmax over "
                    "the class channel), not probabilities",
                    "out_of_range",
                )
        present = np.unique(array)
        unknown = present[~np.isin(present, allowed)]
        if unknown.size:
            raise InvalidOutput(
                f"{what} holds labels {unknown[:5].tolist()}; the task's labels are "
                f"{allowed.tolist()} (0 background, "
                + ", ".join(f"{k} {name}" for k, name in sorted(contract.structures.items()))
                + ")",
                "out_of_range",
            )
        label_maps.append(array.astype(np.uint8))
    return label_maps


def score_label_maps(prepared: PreparedSplit, predictions: list[np.ndarray]) -> SegmentationReport:
    """Every segmentation metric for every structure of the task, from one evaluation.

    The surface tolerance is the one ``surface_dice`` states (1 mm by default); with a
    ``cluster_key`` the intervals resample whole patients.
    """
    spec = prepared.task.spec
    surface = spec.metric("surface_dice")
    spacings = prepared.spacings
    return segmentation_metrics(
        list(prepared.labels),
        predictions,
        labels=sorted(_contract(prepared).structures),
        spacings=None if spacings is None else [tuple(s) for s in spacings],
        groups=prepared.attributes.get(spec.cluster_key or ""),
        tolerance_mm=float(surface.options.get("tolerance_mm", 1.0)) if surface else 1.0,
    )


def _worst_cases(
    prepared: PreparedSplit, predictions: list[np.ndarray], dice: np.ndarray
) -> tuple[WorstCase, ...]:
    """The cases with the lowest mean Dice, each at the slice through the most reference
    voxels across its thinnest axis."""
    worst = np.argsort(dice, kind="stable")[:WORST_CASES_SHOWN]
    cases = []
    with np.load(prepared.input_dir / prepared.inputs_file, allow_pickle=False) as inputs:
        for case in worst.tolist():
            reference = np.asarray(prepared.labels[case]) > 0
            prediction = predictions[case] > 0
            axis = int(np.argmin(reference.shape))
            shown = reference if reference.any() else prediction
            other_axes = tuple(a for a in range(reference.ndim) if a != axis)
            index = int(np.argmax(shown.sum(axis=other_axes)))
            cases.append(
                WorstCase(
                    case=case,
                    dice=float(dice[case]),
                    axis=axis,
                    index=index,
                    image=np.take(inputs[f"image_{case:05d}"], index, axis).tolist(),
                    reference=np.take(reference, index, axis).astype(int).tolist(),
                    prediction=np.take(prediction, index, axis).astype(int).tolist(),
                )
            )
    return tuple(cases)


def _structure_spreads(
    summaries: Sequence[SegmentationSummary], contract: LabelMapContract
) -> dict[str, object]:
    """Per structure (and the mean over structures), each metric's spread over the class."""
    structures = [*sorted({s.structure for s in summaries if s.structure is not None}), None]
    metrics = list(dict.fromkeys(name for s in summaries for name in s.results))
    values: dict[tuple[int | None, str], list[float]] = {}
    for summary in summaries:
        for name, result in summary.results.items():
            values.setdefault((summary.structure, name), []).append(result.value)
    labels = [
        "mean"
        if structure is None
        else f"{structure} {contract.structures.get(structure, '')}".strip()
        for structure in structures
    ]
    return {
        "spread": spread_cell,
        "metrics": [(name, metric_title(name)) for name in metrics],
        "rows": [
            (label, [Spread.of(values.get((structure, name), [])) for name in metrics])
            for label, structure in zip(labels, structures, strict=True)
        ],
        "charts": [
            strip_chart(
                labels,
                [values.get((structure, name), []) for structure in structures],
                title=f"{metric_title(name)} by structure",
                x_title=metric_title(name),
            )
            for name in metrics
        ],
    }
