"""``molecules`` inputs: one SMILES string per case (RDKit reads them in the task's environment)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grader.kinds._base import InputKind, check_string_features
from grader.kinds._registry import register_kind

if TYPE_CHECKING:
    from grader.data import Dataset


@register_kind
class MoleculeInputs(InputKind):
    name = "molecules"
    description = (
        "a numpy array of SMILES strings (dtype str, shape (n_cases,)), one molecule per case"
    )

    def write_inputs(self, dataset: Dataset, rows: np.ndarray, folder: Path) -> str:
        check_string_features(dataset, "molecules inputs are one SMILES string per case")
        return super().write_inputs(dataset, rows, folder)
