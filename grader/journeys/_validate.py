"""``medgrade task validate``: prove a task is fair on the real pipeline.

Checks, in order: the spec and rubric parse and agree; the split recomputed from the spec
equals the recorded manifest; the reference submission reaches every automatic
criterion's full points on the validation and test splits; and a null model (the
training prevalence, or class frequencies, for every case) earns no automatic points.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from grader.evaluation import Evaluation, evaluate, prepare_split
from grader.kinds import output_kind
from grader.reference import reference_submission
from grader.rubric import AutomaticCriterion
from grader.tasks import Task, public_split, recompute_split
from sandbox import SandboxBackend

NULL_SUBMISSION_DIR = Path(__file__).resolve().parent / "null_submission"
VALIDATED_SPLITS = ("validation", "test")


@dataclass
class ValidationReport:
    task_id: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append((name, ok, detail))


def validate_task(
    task: Task,
    *,
    backend: SandboxBackend,
    data_dir: Path | None,
    references: Path | None = None,
    workers: int = 2,
) -> ValidationReport:
    """Run every check on ``task``; its four runs (the reference and the null model on each
    split) ``workers`` at a time, as a batch runs submissions (``medgrade task validate``
    passes a batch's default)."""
    report = ValidationReport(task.id)
    report.add("spec and rubric", True, f"{task.spec_path} and {task.rubric_path} are valid")
    _check_split(task, report, data_dir)
    if not report.passed:
        return report
    with tempfile.TemporaryDirectory(prefix="medgrade-validate-") as scratch:
        workdir = Path(scratch)
        null_dir = _make_null_submission(task, workdir / "null-model", data_dir)
        trained = reference_submission(task, workdir, references)
        prepared = [
            prepare_split(task, split, data_dir=data_dir, workdir=workdir)
            for split in VALIDATED_SPLITS
        ]
        # The runs are independent, and limits and marks count CPU time, not wall time, so
        # they run side by side as a batch's do; they are reported in order.
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            runs = [
                (
                    pool.submit(
                        evaluate, trained, student_id="reference", prepared=split, backend=backend
                    ),
                    pool.submit(
                        evaluate, null_dir, student_id="null-model", prepared=split, backend=backend
                    ),
                )
                for split in prepared
            ]
            for reference_run, null_run in runs:
                reference, null = reference_run.result(), null_run.result()
                report.evaluations += [reference, null]
                _check_reference(task, reference, report)
                _check_null(task, null, report)
    return report


def _check_split(task: Task, report: ValidationReport, data_dir: Path | None) -> None:
    recomputed = recompute_split(task, data_dir)
    recorded = task.split_manifest()
    same = all(recomputed.sha256(s) == recorded.sha256(s) for s in recorded.case_ids)
    sizes = ", ".join(f"{s} {len(ids)}" for s, ids in recorded.case_ids.items())
    report.add(
        "split is deterministic and recorded",
        same,
        f"{task.manifest_path.name}: {sizes}"
        if same
        else f"recomputing the split from the spec no longer gives {task.manifest_path}; the "
        "held-out set would drift (record it again only on purpose: medgrade task split --write)",
    )


def _make_null_submission(task: Task, folder: Path, data_dir: Path | None) -> Path:
    _, train_labels = public_split(task, "train", data_dir=data_dir)
    shutil.copytree(NULL_SUBMISSION_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    contract = task.spec.output
    null = output_kind(contract.kind).null_model(contract, train_labels)
    (folder / "prevalence.json").write_text(json.dumps({"prevalence": null}))
    return folder


def _check_reference(task: Task, evaluation: Evaluation, report: ValidationReport) -> None:
    name = f"reference reaches full points ({evaluation.split})"
    if evaluation.failure is not None:
        report.add(
            name,
            False,
            f"the reference failed: {evaluation.failure.kind}: {evaluation.failure.message}",
        )
        return
    short = [
        f"{m.id}: {m.points:g}/{m.max_points:g} ({m.explanation})"
        for m in evaluation.marks.marks
        if _is_automatic(task, m.id) and (m.points or 0) < m.max_points
    ]
    values = ", ".join(f"{k} {v.value:.4f}" for k, v in evaluation.metrics.items())
    report.add(name, not short, "; ".join(short) if short else values)


def _check_null(task: Task, evaluation: Evaluation, report: ValidationReport) -> None:
    name = f"null model stays at the floor ({evaluation.split})"
    if evaluation.failure is not None:
        report.add(
            name,
            False,
            f"the null model failed: {evaluation.failure.kind}: {evaluation.failure.message}",
        )
        return
    above = [
        f"{m.id}: {m.points:g} points ({m.explanation})"
        for m in evaluation.marks.marks
        if _is_automatic(task, m.id) and (m.points or 0) > 0
    ]
    values = ", ".join(
        f"{k} {v.value:.4f}" for k, v in evaluation.metrics.items() if not math.isnan(v.value)
    )
    report.add(name, not above, "; ".join(above) if above else values)


def _is_automatic(task: Task, criterion_id: str) -> bool:
    return any(
        isinstance(c, AutomaticCriterion) and c.id == criterion_id for c in task.rubric.criteria
    )
