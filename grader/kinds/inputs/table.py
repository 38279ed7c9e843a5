"""``table`` inputs: tabular features: one row of numbers per case, its columns named in the task's docs."""

from __future__ import annotations

from grader.kinds._base import InputKind
from grader.kinds._registry import register_kind


@register_kind
class TableInputs(InputKind):
    name = "table"
    description = "a float64 array (n_cases, n_features), one row per case"
