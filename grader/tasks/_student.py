"""``medgrade task export-student``: the folder a course hands out for a task.

It holds the task description and contract, the public splits with their labels, a
starter ``predict.py`` that already follows the contract, and the self-check command.
The test split's labels are never written; its inputs only when the task makes them
public (``split.public_test_inputs``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.data import load_dataset
from grader.errors import MedgradeError
from grader.rubric import AutomaticCriterion
from grader.submission import SUBMISSION_CONTRACT
from grader.tasks._catalog import Task
from grader.tasks._public import PUBLIC_SPLITS

STARTER = '''"""Starter submission for {task_id}: replace the model, keep the two functions.

load_model(artifacts_dir) is called once with this folder (read-only in the sandbox);
predict(model, inputs) gets {inputs} and must return {output}.
Check it with:  medgrade check . --task {task_id}
"""

import numpy as np


def load_model(artifacts_dir: str) -> float:
    # A real model would load its weights here, e.g. torch.load(Path(artifacts_dir) / "model.pt").
    return {prevalence!r}  # the training prevalence: what a model that learnt nothing predicts


def predict(model: float, inputs: np.ndarray) -> np.ndarray:
    return np.full(len(inputs), model, dtype=np.float64)
'''


def export_student_bundle(task: Task, out: Path, *, data_dir: Path | None = None) -> list[Path]:
    """Write the student bundle of ``task`` into the new folder ``out``; return its files."""
    if out.exists() and any(out.iterdir()):
        raise MedgradeError(f"{out} is not empty; choose a new folder for the student bundle")
    spec = task.spec
    dataset = load_dataset(spec.dataset.loader, spec.dataset.params, data_dir)
    manifest = task.split_manifest()
    (out / "data").mkdir(parents=True, exist_ok=True)
    written = []
    for split in PUBLIC_SPLITS:
        rows = dataset.rows(manifest.case_ids[split])
        path = out / "data" / f"{split}.npz"
        np.savez_compressed(
            path,
            inputs=dataset.features[rows],
            labels=dataset.labels[rows],
            case_ids=np.asarray(manifest.case_ids[split]),
        )
        written.append(path)
    if spec.split.public_test_inputs:
        rows = dataset.rows(manifest.case_ids["test"])
        path = out / "data" / "test_inputs.npz"
        np.savez_compressed(
            path, inputs=dataset.features[rows], case_ids=np.asarray(manifest.case_ids["test"])
        )
        written.append(path)
    train_labels = dataset.labels[dataset.rows(manifest.case_ids["train"])]
    starter = out / "starter" / "predict.py"
    starter.parent.mkdir()
    starter.write_text(
        STARTER.format(
            task_id=spec.id,
            inputs=spec.inputs.description.strip().rstrip(".").replace("\n", " "),
            output="one probability of "
            f"'{spec.output.positive_label}' per case, a float array of shape (n_cases,)",
            prevalence=round(float(train_labels.mean()), 4),
        )
    )
    written.append(starter)
    readme = out / "README.md"
    readme.write_text(_readme(task, {s: len(manifest.case_ids[s]) for s in manifest.case_ids}))
    written.append(readme)
    return written


def _readme(task: Task, sizes: dict[str, int]) -> str:
    spec = task.spec
    criteria = []
    for criterion in task.rubric.criteria:
        how = (
            f"from `{criterion.metric}`"
            if isinstance(criterion, AutomaticCriterion)
            else "marked by hand"
        )
        criteria.append(f"| {criterion.title} | {criterion.points:g} | {how} |")
    test_inputs = (
        "`data/test_inputs.npz` holds the test inputs (no labels)."
        if spec.split.public_test_inputs
        else "The test split is not included: your submission meets it only when it is graded."
    )
    return f"""# {spec.title}

Task `{spec.id}`, version {spec.version}.

{spec.description.strip()}

## Data

`data/train.npz` ({sizes["train"]} cases) and `data/validation.npz` ({sizes["validation"]} cases)
each hold `inputs`, `labels` (1 = {spec.output.positive_label}) and `case_ids`. {test_inputs}
The marker grades on {sizes["test"]} held-out test cases whose labels you never see.

- Inputs ({spec.inputs.kind}): {spec.inputs.description.strip()}
- Dataset: {spec.dataset.citation.strip()}
- Licence: {spec.dataset.licence}

## What to submit

{SUBMISSION_CONTRACT}

`starter/predict.py` follows the contract already (it predicts the training prevalence);
replace its model with yours. Limits: {spec.limits.wall_time_s:g} s wall time,
{spec.limits.memory_mb} MiB of memory, no network.

## How it is marked

| criterion | points | how |
|---|---|---|
{chr(10).join(criteria)}

## Check before you submit

```bash
medgrade check starter/ --task {spec.id}
```

or, from your notebook, `from grader import check; check("{spec.id}")`. The report is the one
the marker sees, computed on the validation split.
"""
