"""``signal`` inputs: 1-D signals (e.g. ECG beats), one per case, all of one length."""

from __future__ import annotations

from grader.kinds._base import InputKind
from grader.kinds._registry import register_kind


@register_kind
class SignalInputs(InputKind):
    name = "signal"
    description = "an array (n_cases, n_samples)"
