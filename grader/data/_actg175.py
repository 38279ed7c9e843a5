"""AIDS Clinical Trials Group Study 175 (Hammer et al., NEJM 1996): 2,139 adults with HIV.

Reads ``ACTG175.csv`` as the ``lifelines`` package ships it (also in R's ``speff2trial``),
from the data directory or, offline, from an installed ``lifelines``.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np

from grader.data._dataset import Dataset
from grader.data._fetch import register_no_download
from grader.data._files import find_data_file
from grader.data._loaders import register_loader
from grader.errors import DataError

#: Measured at baseline only.  cd420/cd496/cd820 (weeks 20 and 96), r (cd496 missing),
#: offtrt (went off treatment) and days (follow-up) come after randomisation and leak the
#: outcome; zprior is 1 for everyone; pidnum is an id.
BASELINE_COVARIATES = (
    "age", "wtkg", "hemo", "homo", "drugs", "karnof", "oprior", "z30", "preanti", "race",
    "gender", "str2", "strat", "symptom", "treat", "cd40", "cd80", "arms",
)  # fmt: skip
AGE_BANDS = ((0, 30, "under 30"), (30, 40, "30-39"), (40, 50, "40-49"), (50, 200, "50 and over"))


register_no_download(
    "actg175", "ACTG 175 ships with lifelines: pip install lifelines (it is then read offline)"
)


def _lifelines_copy() -> list[Path]:
    spec = importlib.util.find_spec("lifelines")
    if spec is None or spec.origin is None:
        return []
    path = Path(spec.origin).parent / "datasets" / "ACTG175.csv"
    return [path] if path.is_file() else []


@register_loader("actg175")
def load_actg175(*, data_dir: Path | None) -> Dataset:
    """ACTG 175 with the event indicator ``cens`` as the label (1 = AIDS-defining event,
    death, or a CD4 drop of at least 50%) and the 18 baseline covariates as features.

    Attributes for subgroups: ``race`` (white / non-white), ``gender`` (female / male) and
    ``age_band``.
    """
    bundled = _lifelines_copy()
    if data_dir is None and bundled:
        path = bundled[0]
    else:
        path = find_data_file(
            data_dir,
            dataset="ACTG 175",
            folder="actg175",
            patterns=("ACTG175.csv",),
            get_it="Install lifelines (pip install lifelines), which ships ACTG175.csv, or "
            "copy lifelines/datasets/ACTG175.csv.",
        )
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    wanted = {"pidnum", "cens", *BASELINE_COVARIATES}
    if not rows or not wanted <= set(rows[0]):
        raise DataError(
            f"{path} lacks the ACTG 175 columns {sorted(wanted - set(rows[0] if rows else []))}"
        )
    try:
        features = np.array([[float(r[c]) for c in BASELINE_COVARIATES] for r in rows])
        labels = np.array([int(r["cens"]) for r in rows], dtype=np.int64)
    except ValueError as error:
        raise DataError(f"{path}: a baseline covariate is not a number ({error})") from None
    column = {name: features[:, i] for i, name in enumerate(BASELINE_COVARIATES)}
    age = column["age"]
    return Dataset(
        name="actg175",
        case_ids=np.array([f"actg175-{r['pidnum']}" for r in rows]),
        features=features,
        feature_names=BASELINE_COVARIATES,
        labels=labels,
        attributes={
            "race": np.where(column["race"] == 0, "white", "non-white"),
            "gender": np.where(column["gender"] == 1, "male", "female"),
            "age_band": np.select(
                [(age >= low) & (age < high) for low, high, _ in AGE_BANDS],
                [label for _, _, label in AGE_BANDS],
                default="unknown",
            ),
        },
        source_paths=(path,),
    )
