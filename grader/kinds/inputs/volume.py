"""``volume`` inputs: 3-D images that differ in shape, each with its voxel size."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grader.data import save_volume_archive
from grader.kinds._base import InputKind
from grader.kinds._registry import register_kind

if TYPE_CHECKING:
    from grader.data import Dataset


@register_kind
class VolumeInputs(InputKind):
    name = "volume"
    description = (
        "a list with one dict per case, {'image': a float32 array (X, Y, Z), 'spacing_mm': "
        "(x, y, z)}, the cases differing in shape"
    )
    layout = "cases"

    def write_inputs(self, dataset: Dataset, rows: np.ndarray, folder: Path) -> str:
        assert dataset.spacings is not None
        name = "inputs.npz"
        save_volume_archive(folder / name, dataset.features[rows], dataset.spacings[rows])
        return name
