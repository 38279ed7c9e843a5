"""Tox21 (MoleculeNet): 7,831 molecules as SMILES, twelve toxicity assays, many not run.

Reads MoleculeNet's ``tox21.csv`` (or the ``tox21.csv.gz`` DeepChem distributes). Each
molecule's Bemis-Murcko scaffold, computed with RDKit, is the attribute ``scaffold``: the
task splits by it, so that no scaffold is in two splits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.data._dataset import Dataset
from grader.data._fetch import Download, register_downloads
from grader.data._files import find_data_file
from grader.data._loaders import register_loader
from grader.errors import DataError

#: The assays, in the file's column order (the order of a prediction's columns).
TOX21_ASSAYS = (
    "NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD", "NR-PPAR-gamma",
    "SR-ARE", "SR-ATAD5", "SR-HSE", "SR-MMP", "SR-p53",
)  # fmt: skip
TOX21_URL = "https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/tox21.csv.gz"


@register_downloads("tox21")
def tox21_downloads() -> list[Download]:
    return [Download(TOX21_URL, "tox21/tox21.csv.gz")]


@register_loader("tox21")
def load_tox21(*, data_dir: Path | None) -> Dataset:
    """Tox21's molecules (SMILES strings as features, ``mol_id`` as case ids) with their
    twelve assay outcomes as labels, NaN where an assay has no result.

    Attribute: ``scaffold``, the molecule's Bemis-Murcko scaffold (RDKit, chirality kept).
    """
    import pandas as pd

    path = find_data_file(
        data_dir,
        dataset="Tox21 (MoleculeNet)",
        folder="tox21",
        patterns=("tox21.csv", "tox21.csv.gz"),
        get_it=f"Run 'medgrade data fetch tox21-toxicity', or download {TOX21_URL}.",
    )
    frame = pd.read_csv(path)
    missing = [c for c in (*TOX21_ASSAYS, "mol_id", "smiles") if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks the Tox21 column(s) {missing}")
    labels = frame[list(TOX21_ASSAYS)].to_numpy(dtype=np.float64)
    known = labels[~np.isnan(labels)]
    if not np.isin(known, (0.0, 1.0)).all():
        raise DataError(f"{path}: an assay column holds a value other than 0, 1 or blank")
    smiles = frame["smiles"].to_numpy(dtype=str)
    return Dataset(
        name="tox21",
        case_ids=frame["mol_id"].to_numpy(dtype=str),
        features=smiles,
        feature_names=("smiles",),
        labels=labels,
        attributes={"scaffold": murcko_scaffolds(smiles)},
        source_paths=(path,),
    )


def murcko_scaffolds(smiles: np.ndarray) -> np.ndarray:
    """Each molecule's Bemis-Murcko scaffold as canonical SMILES (chirality kept, as in Hu et
    al.'s and DeepChem's scaffold splits); an acyclic molecule's is ``""``.

    Today's RDKit refuses eight of Tox21's SMILES (aluminium salts such as
    ``CC(=O)O[AlH3](O)O``) on valence; their scaffold is read without sanitising, which gives
    what the RDKit of those papers gave.  A SMILES whose very syntax fails is its own group."""
    try:
        from rdkit import Chem, RDLogger
        from rdkit.Chem.Scaffolds import MurckoScaffold
    except ImportError:
        raise DataError(
            "the Tox21 loader computes scaffolds with RDKit: pip install 'medgrade[molecules]'"
        ) from None
    RDLogger.DisableLog("rdApp.*")  # a few of Tox21's SMILES draw valence warnings
    scaffolds = []
    for text in smiles.tolist():
        molecule = Chem.MolFromSmiles(text)
        if molecule is None:
            molecule = Chem.MolFromSmiles(text, sanitize=False)
            if molecule is None:
                scaffolds.append(text)
                continue
            molecule.UpdatePropertyCache(strict=False)
            Chem.FastFindRings(molecule)
        scaffolds.append(MurckoScaffold.MurckoScaffoldSmiles(mol=molecule, includeChirality=True))
    return np.asarray(scaffolds, dtype=str)
