"""PubMedQA-L (Jin et al., EMNLP 2019): 1,000 research questions answered yes, no or maybe.

Reads the two files of the official repository: ``ori_pqal.json`` (the 1,000 expert-labelled
instances) and ``test_ground_truth.json`` (the ids of the official 500-question test set).
The other 500 are split as the repository's ``preprocess/split_dataset.py`` splits them
into ten cross-validation folds (its own seeded shuffle, reproduced exactly); a task names
which folds validate.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np

from grader.data._dataset import Dataset
from grader.data._fetch import Download, register_downloads
from grader.data._files import find_data_file
from grader.data._loaders import register_loader
from grader.errors import DataError

#: The classes, in the order of a prediction's columns.
PUBMEDQA_DECISIONS = ("yes", "no", "maybe")
_REPOSITORY = "https://raw.githubusercontent.com/pubmedqa/pubmedqa/1cbae8e92f72f20c8d3747cbb3bf5bc53554d997/data"
_FILES = ("ori_pqal.json", "test_ground_truth.json")


@register_downloads("pubmedqa")
def pubmedqa_downloads(*, validation_folds: list[int] | None = None) -> list[Download]:
    del validation_folds
    return [Download(f"{_REPOSITORY}/{name}", f"pubmedqa/{name}") for name in _FILES]


@register_loader("pubmedqa")
def load_pubmedqa(*, data_dir: Path | None, validation_folds: list[int] | None = None) -> Dataset:
    """PubMedQA-L: each case the question and the abstract's paragraphs without its
    conclusion, as the JSON text ``{"question", "contexts", "context_labels"}`` (never the
    long answer, which states the conclusion, nor the decision); the label the decision (0
    yes, 1 no, 2 maybe).

    Official split: the 500 test ids of ``test_ground_truth.json``; of the other 500, the
    cross-validation folds ``validation_folds`` (default 0 and 1, about 100 cases) validate
    and the other eight train.
    """
    folds = [0, 1] if validation_folds is None else validation_folds
    if not folds or not set(folds) <= set(range(10)):
        raise DataError(f"pubmedqa: validation_folds must be fold numbers 0-9; got {folds}")
    paths = [
        find_data_file(
            data_dir,
            dataset="PubMedQA",
            folder="pubmedqa",
            patterns=(name,),
            get_it="Run 'medgrade data fetch pubmedqa-reasoning', or download "
            f"{_REPOSITORY}/{name}.",
        )
        for name in _FILES
    ]
    instances, test_ids = (_read_json(path) for path in paths)
    try:
        decisions = {pmid: str(info["final_decision"]) for pmid, info in instances.items()}
        records = {
            pmid: {
                "question": str(info["QUESTION"]),
                "contexts": [str(text) for text in info["CONTEXTS"]],
                "context_labels": [str(label) for label in info["LABELS"]],
            }
            for pmid, info in instances.items()
        }
    except (KeyError, TypeError, AttributeError) as error:
        raise DataError(f"{paths[0]}: not PubMedQA's instance format ({error!r})") from None
    if set(decisions.values()) - set(PUBMEDQA_DECISIONS):
        raise DataError(f"{paths[0]}: a final_decision is not one of {PUBMEDQA_DECISIONS}")
    cross_validation, test = _official_folds(decisions)
    if set(test) != set(test_ids):
        raise DataError(
            f"{paths[1]} does not list the test set PubMedQA's split gives {paths[0]}: the "
            "files are not the official ones"
        )
    split = {pmid: "test" for pmid in test}
    for fold, pmids in enumerate(cross_validation):
        split |= dict.fromkeys(pmids, "validation" if fold in folds else "train")
    pmids = list(instances)
    return Dataset(
        name="pubmedqa",
        case_ids=np.asarray([f"pmid-{pmid}" for pmid in pmids]),
        features=np.asarray([json.dumps(records[p], ensure_ascii=False) for p in pmids]),
        feature_names=("question", "contexts", "context_labels"),
        labels=np.asarray([PUBMEDQA_DECISIONS.index(decisions[p]) for p in pmids]),
        official_split=np.asarray([split[p] for p in pmids]),
        source_paths=tuple(paths),
    )


def _read_json(path: Path) -> dict[str, object]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not readable JSON ({error})") from None
    if not isinstance(document, dict):
        raise DataError(f"{path}: expected a JSON object keyed by PubMed id")
    return document


def _official_folds(decisions: dict[str, str]) -> tuple[list[list[str]], list[str]]:
    """PubMedQA's ``split_dataset.py pqal``, step for step: one generator seeded 0 halves the
    instances label by label (the second half is the test set), then cuts the first half
    into ten folds the same way and moves one case of each of the first nine folds into the
    last.  The same file in the same order gives the same folds, as the repository's do."""
    generator = random.Random(0)

    def split(pmids: list[str], fold: int) -> list[list[str]]:
        by_label: dict[str, list[str]] = {label: [] for label in PUBMEDQA_DECISIONS}
        for pmid in pmids:
            by_label[decisions[pmid]].append(pmid)
        parts = {label: _cut(generator, ids, fold) for label, ids in by_label.items()}
        output = [[p for label in PUBMEDQA_DECISIONS for p in parts[label][i]] for i in range(fold)]
        if len(output[-1]) != len(output[0]):
            for i in range(fold - 1):
                picked = generator.choice(output[i])
                output[i].remove(picked)
                output[-1].append(picked)
        return output

    cross_validation, test = split(list(decisions), 2)
    return split(cross_validation, 10), test


def _cut(generator: random.Random, pmids: list[str], fold: int) -> list[list[str]]:
    generator.shuffle(pmids)
    size = math.ceil(len(pmids) / fold)
    return [
        pmids[i * size : (i + 1) * size] if i < fold - 1 else pmids[i * size :] for i in range(fold)
    ]
