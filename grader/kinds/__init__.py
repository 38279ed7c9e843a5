"""Task kinds as plug-ins: what ``predict`` receives and returns, one module per kind.

Adding a kind is one module: a subclass of :class:`InputKind` or :class:`OutputKind`
decorated with :func:`register_kind` (an output kind with its spec fields as an
:class:`OutputContract`), imported by medgrade (``grader/kinds/inputs/``,
``grader/kinds/outputs/``) or declared by an installed package in the entry point group
``medgrade.kinds``.  See :mod:`grader.kinds._base` for what each method does.
"""

from grader.kinds._base import (
    InputKind,
    OutputKind,
    Predictions,
    ReportSection,
    Scored,
    ViewDisclosure,
    section_template,
)
from grader.kinds._contract import OutputContract
from grader.kinds._files import InvalidOutput, UnsafeFileError, read_npy, read_regular_file
from grader.kinds._registry import (
    ENTRY_POINT_GROUP,
    input_kind,
    input_kind_names,
    output_contract,
    output_kind,
    output_kind_names,
    output_kind_of_results,
    register_kind,
)
from grader.kinds._scoring import read_rows, score_metrics
from grader.kinds.inputs import (  # noqa: F401  (they register)
    image,
    molecules,
    signal,
    table,
    text,
    volume,
)
from grader.kinds.outputs import (  # noqa: F401  (they register)
    binary_probability,
    class_probabilities,
    label_map,
    multilabel_probabilities,
)
from grader.kinds.outputs.binary_probability import BinaryProbabilityContract, Curves
from grader.kinds.outputs.class_probabilities import (
    ClassProbabilitiesContract,
    ClassRow,
    ClassSummary,
)
from grader.kinds.outputs.label_map import LabelMapContract, LabelMapResults, WorstCase
from grader.kinds.outputs.multilabel_probabilities import (
    LabelRow,
    LabelSummary,
    MultilabelProbabilitiesContract,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "BinaryProbabilityContract",
    "ClassProbabilitiesContract",
    "ClassRow",
    "ClassSummary",
    "Curves",
    "InputKind",
    "InvalidOutput",
    "LabelMapContract",
    "LabelMapResults",
    "LabelRow",
    "LabelSummary",
    "MultilabelProbabilitiesContract",
    "OutputContract",
    "OutputKind",
    "Predictions",
    "ReportSection",
    "Scored",
    "UnsafeFileError",
    "ViewDisclosure",
    "WorstCase",
    "input_kind",
    "input_kind_names",
    "output_contract",
    "output_kind",
    "output_kind_names",
    "output_kind_of_results",
    "read_npy",
    "read_regular_file",
    "read_rows",
    "register_kind",
    "score_metrics",
    "section_template",
]
