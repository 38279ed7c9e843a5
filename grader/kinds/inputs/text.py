"""``text`` inputs: one record of named text fields per case (a question and its passages, say).

A loader gives each case as a JSON object in a string array (so a dataset's features stay a
plain numpy array, hashed and subset like any other); the sandbox receives them decoded, as
a list of dicts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grader.errors import DataError
from grader.kinds._base import InputKind, check_string_features
from grader.kinds._registry import register_kind

if TYPE_CHECKING:
    from grader.data import Dataset


@register_kind
class TextInputs(InputKind):
    name = "text"
    description = (
        "a list with one dict per case, its text fields named in the task's docs (e.g. "
        "{'question': str, 'contexts': [str, ...]})"
    )
    layout = "records"

    def write_inputs(self, dataset: Dataset, rows: np.ndarray, folder: Path) -> str:
        name = "inputs.json"
        (folder / name).write_text(
            json.dumps(decode_text_records(dataset, rows), ensure_ascii=False), encoding="utf-8"
        )
        return name


def decode_text_records(dataset: Dataset, rows: np.ndarray) -> list[dict[str, object]]:
    """The records of ``rows``: each case's JSON text decoded into its dict."""
    check_string_features(dataset, "text inputs are one JSON object (a str) per case")
    records = []
    for case_id, text in zip(dataset.case_ids[rows], dataset.features[rows], strict=True):
        record = json.loads(str(text))
        if not isinstance(record, dict):
            raise DataError(f"dataset {dataset.name!r}: case {case_id} is not a JSON object")
        records.append(record)
    return records
