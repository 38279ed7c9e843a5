"""What a task kind is: the two protocols every input and output kind implements.

A kind's class attributes say what the spec, the harness and the report need to know of it;
its methods do the kind's part of each step on the host: writing the inputs a sandbox reads
(:meth:`InputKind.write_inputs`), reading and checking what the sandbox returned
(:meth:`OutputKind.read`), scoring it (:meth:`OutputKind.score`, whose results beyond the
metrics are an instance of the kind's own :attr:`OutputKind.results` type), the sections it
adds to a student's report (:meth:`OutputKind.report_sections`) and to the class dashboard
(:meth:`OutputKind.class_sections`), what its views disclose of a hidden split
(:meth:`OutputKind.view_disclosure`) and writing the student's starter
(:meth:`OutputKind.starter`).  Inside the sandbox the harness knows only the wire
layouts (:data:`sandbox.wire.INPUT_LAYOUTS`, :data:`sandbox.wire.OUTPUT_LAYOUTS`), never a
kind, so a new kind needs no change to the sandbox side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from grader.errors import DataError
from grader.metrics import METRICS, MetricResult, SubgroupReport

if TYPE_CHECKING:
    from grader.data import Dataset
    from grader.evaluation import Evaluation, PreparedSplit
    from grader.kinds._contract import OutputContract
    from grader.tasks import Task

#: A binary task's probabilities (n_cases,), a multiclass task's (n_cases, n_classes), or a
#: segmentation task's label map per case.
Predictions = np.ndarray | list[np.ndarray]


class InputKind:
    """What ``predict`` receives, and how the host writes it for the sandbox."""

    #: The value of ``inputs.kind``.
    name: ClassVar[str]
    #: What ``predict`` receives, for the spec's schema and the student's docs.
    description: ClassVar[str]
    #: How the harness reads the inputs file: ``array`` (one ``.npy``, sliced into batches),
    #: ``cases`` (a case archive, one dict per case) or ``records`` (a JSON list).
    layout: ClassVar[str] = "array"

    def write_inputs(self, dataset: Dataset, rows: np.ndarray, folder: Path) -> str:
        """Write the features of ``rows`` into ``folder``, never a label; return the file's name."""
        name = "inputs.npy"
        np.save(folder / name, np.ascontiguousarray(dataset.features[rows]), allow_pickle=False)
        return name


def check_string_features(dataset: Dataset, inputs: str) -> None:
    """Refuse a dataset whose features are not one string per case (``inputs`` says what
    the kind's strings are, e.g. "one SMILES string per case")."""
    if dataset.features.dtype.kind != "U" or dataset.features.ndim != 1:
        raise DataError(
            f"dataset {dataset.name!r} gives {dataset.features.dtype} features of shape "
            f"{dataset.features.shape}; {inputs}"
        )


@dataclass(frozen=True)
class Scored:
    """What an output kind computed of one run: the task's metrics, the subgroup reports
    and ``kind_results``, the kind's own (None, or an instance of its
    :attr:`OutputKind.results`)."""

    metrics: dict[str, MetricResult]
    subgroups: tuple[SubgroupReport, ...] = ()
    kind_results: Any = None


@dataclass(frozen=True)
class ViewDisclosure:
    """What an output kind's own views of a hidden split (its curves, tables) tell of the
    labels, for :mod:`grader.disclosure`: ``channels``, a name and its bits each, and
    ``metrics_from_shown_counts``, the metrics whose values (and intervals) are sums of
    counts those views already show, and so tell nothing more."""

    channels: tuple[tuple[str, float], ...] = ()
    metrics_from_shown_counts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ReportSection:
    """A part of the student's report an output kind adds after the metrics table.

    ``template`` is a Jinja template's source, rendered with the report's own variables
    (``e`` the evaluation, ``task``, ``d4`` and ``d3`` the decimals numbers are shown to,
    ``metric_title(name)``, and the ``shown`` filter, which rounds the numbers in a method's text
    on a hidden split) plus ``variables``, the section's own (its charts, say).
    """

    template: str
    variables: Mapping[str, Any] = field(default_factory=dict)


def section_template(package: str | None, name: str) -> str:
    """The source of the report-section template ``name`` shipped in ``package`` (a kind's
    module passes its ``__package__``)."""
    if package is None:
        raise ValueError("a report section's template is read from a package")
    return files(package).joinpath(name).read_text(encoding="utf-8")


class OutputKind:
    """What ``predict`` must return, how it is checked, scored and explained."""

    #: The value of ``output.kind``.
    name: ClassVar[str]
    #: The kind's spec fields: a subclass of :class:`~grader.kinds.OutputContract` whose
    #: ``kind`` is ``Literal[name]``.
    contract: ClassVar[type[OutputContract]]
    #: What the harness collects: ``rows`` (one row per case, one array) or ``per_case``
    #: (one array per case, of the shape of the case's :attr:`per_case_shape_of` input).
    layout: ClassVar[str] = "rows"
    #: ``per_case`` only, for the harness: the case field whose shape each output has, what
    #: one output is called, and what its values must be ("an integer label map").
    per_case_shape_of: ClassVar[str | None] = None
    per_case_noun: ClassVar[str | None] = None
    per_case_expected: ClassVar[str | None] = None
    #: The input layouts this output goes with (one row per case goes with any list of cases).
    input_layouts: ClassVar[frozenset[str]] = frozenset({"array", "records"})
    #: Whether the task may report metrics by subgroup (``subgroups``).
    reports_subgroups: ClassVar[bool] = False
    #: Whether what a hidden split's report shows is counted in bits (grader.disclosure).
    measures_disclosure: ClassVar[bool] = True
    #: What :meth:`score` computes besides the metrics (curves, tables): a frozen dataclass
    #: of plain values, numpy arrays, tuples and other such dataclasses, with a method
    #: ``json_fields() -> dict[str, Any]`` (the keys it adds to the ``--json`` document).  The
    #: store keeps it and reads it back by its type hints, so a report rendered from a stored
    #: run equals the one rendered when it was graded.  None: the kind has only metrics.
    results: ClassVar[type | None] = None

    def harness_manifest(self) -> dict[str, str]:
        """What the split's manifest tells the harness of the output (it knows no kind)."""
        if self.layout == "rows":
            return {"layout": "rows"}
        return {  # the registry checked that a per_case kind declares all three
            "layout": self.layout,
            "shape_of": str(self.per_case_shape_of),
            "noun": str(self.per_case_noun),
            "expected": str(self.per_case_expected),
        }

    def metric_names(self) -> list[str]:
        """The registered metrics that score this kind."""
        return [name for name, info in METRICS.items() if info.output == self.name]

    def spec_options(self, metric: str, options: tuple[str, ...]) -> tuple[str, ...]:
        """Which of ``metric``'s keyword options a task spec may set; the grader fills the
        others from the task (the structures, the number of classes, the patients)."""
        return options

    def metric_example(self) -> tuple[Any, Any, dict[str, Any]]:
        """A tiny well-posed ``(y_true, predictions, options the grader fills)`` of this
        kind, on which a spec's metric options are tried when the spec is read, so that a
        bad value fails naming its field rather than after every student's run."""
        return [0, 1, 0, 1], [0.1, 0.8, 0.3, 0.6], {}

    def read(self, output_dir: Path, prepared: PreparedSplit) -> Predictions:
        """Load what the sandbox returned from ``output_dir`` and check it against the
        task's contract; raise :class:`~grader.kinds.InvalidOutput` naming what is wrong."""
        raise NotImplementedError

    def score(self, prepared: PreparedSplit, predictions: Predictions) -> Scored:
        """Every metric the task lists, and the report's views of the run."""
        raise NotImplementedError

    def report_sections(self, evaluation: Evaluation, task: Task) -> list[ReportSection]:
        """The parts of ``evaluation``'s report this kind adds after the metrics table."""
        return []

    def split_note(self, evaluation: Evaluation) -> str:
        """A sentence the report's held-out-split banner adds about this kind's views (how
        many cases each point of its charts aggregates, say)."""
        return ""

    def class_sections(self, results: Sequence[Any], task: Task) -> list[ReportSection]:
        """The parts of the class dashboard this kind adds, from the ``kind_results`` of the
        class's graded runs (the dashboard's own variables are ``task`` and
        ``metric_title(name)``)."""
        return []

    def view_disclosure(self, prepared: PreparedSplit, scored: Scored) -> ViewDisclosure:
        """What this kind's views of ``scored`` tell of a hidden split's labels (the metrics
        and subgroup tables every kind shows are counted by the grader)."""
        return ViewDisclosure()

    def null_model(self, contract: OutputContract, train_labels: np.ndarray) -> Any:
        """What a model that learnt nothing predicts, as JSON (the null submission's
        ``prevalence.json``): the training prevalence by default."""
        return float(np.mean(train_labels))

    def starter(self, contract: OutputContract, task_id: str, inputs: str, null: Any) -> str:
        """The text of the student bundle's ``starter/predict.py``: a submission that
        follows the contract and predicts ``null`` (:meth:`null_model`)."""
        raise NotImplementedError

    def bundle_labels(self, contract: OutputContract) -> str:
        """What a student bundle's split archive holds besides the inputs, in Markdown."""
        raise NotImplementedError
