"""``image`` inputs: 2-D images, one per case, all of one shape."""

from __future__ import annotations

from grader.kinds._base import InputKind
from grader.kinds._registry import register_kind


@register_kind
class ImageInputs(InputKind):
    name = "image"
    description = "an array (n_cases, height, width[, channels])"
