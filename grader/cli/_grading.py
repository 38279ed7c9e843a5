"""``medgrade check``, ``grade``, ``demo``, ``export`` and ``doctor``: the journeys, with
progress and summaries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as ProgressTask
from rich.table import Table
from rich.text import Text

from grader import journeys
from grader._version import __version__
from grader.cli._app import (
    BackendOption,
    DataDirOption,
    GpusOption,
    JsonOption,
    OutOption,
    ReferencesOption,
    TaskOption,
    WorkersOption,
    app,
    console,
    errors_exit,
    gpu_selection,
    note,
    stdout,
)
from grader.evaluation import Evaluation
from grader.output import OutputFolder
from grader.store import student_label


class _BatchProgress:
    """What the progress bar shows of a batch: done, failed, running and the slowest run.

    ``started`` and ``finished`` are called from the batch's worker and writing threads;
    the bar's columns read ``running`` whenever rich redraws them.
    """

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.bar = progress.add_task("grading", total=total, last="", failed=0)
        self.failed = 0
        self.done = 0
        self._running: dict[str, float] = {}
        self._lock = threading.Lock()

    def started(self, student_id: str) -> None:
        with self._lock:
            self._running[student_id] = time.monotonic()

    def finished(self, evaluation: Evaluation) -> None:
        with self._lock:
            self._running.pop(evaluation.student_id, None)
        self.failed += evaluation.failure is not None
        self.done += 1
        self.progress.update(
            self.bar,
            advance=1,
            failed=self.failed,
            last=f"{evaluation.student_id}: {_status_text(evaluation)}",
        )

    def running_text(self) -> str:
        with self._lock:
            running = dict(self._running)
        if not running:
            return ""
        slowest, since = min(running.items(), key=lambda item: item[1])
        return f"{len(running)} running, slowest {slowest} {time.monotonic() - since:.0f}s"


class _RunningColumn(ProgressColumn):
    def __init__(self) -> None:
        super().__init__()
        self.batch: _BatchProgress | None = None

    def render(self, task: ProgressTask) -> Text:
        return Text(self.batch.running_text() if self.batch is not None else "", style="cyan")


@contextmanager
def _batch_progress(total: int, enabled: bool, out: Path) -> Iterator[_BatchProgress]:
    """The batch's progress bar; on Ctrl-C, once every sandbox is stopped, what was kept and
    how to resume (exit status 130, as a shell reports an interrupted command)."""
    batch: _BatchProgress | None = None
    try:
        with _progress_bar(total, enabled) as batch:
            yield batch
    except KeyboardInterrupt:
        done = 0 if batch is None else batch.done
        console.print(
            f"[yellow]interrupted:[/] the {done} submission(s) graded before Ctrl-C are "
            f"kept in {OutputFolder(out).store}; the runs it stopped left no report and no "
            "grade. Run the same command again to resume: only the others run."
        )
        raise typer.Exit(130) from None


@contextmanager
def _progress_bar(total: int, enabled: bool) -> Iterator[_BatchProgress]:
    running = _RunningColumn()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        running,
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        disable=not enabled,
        transient=False,
    ) as progress:
        running.batch = _BatchProgress(progress, total)
        yield running.batch


def _status_text(evaluation: Evaluation) -> str:
    if evaluation.failure is not None:
        return f"failed ({evaluation.failure.kind})"
    return "graded"


def _marks_text(evaluation: Evaluation) -> str:
    marks = evaluation.marks
    text = f"{marks.total:g}/{marks.max_points:g}"
    return f"{text} (+pending)" if marks.pending else text


def _summary_table(
    evaluations: list[Evaluation], title: str, names: Mapping[str, str] | None = None
) -> Table:
    names = names or {}
    table = Table(title=title)
    table.add_column("student", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for column in ("ROC AUC (95% CI)", "marks", "time"):
        table.add_column(column)
    for e in evaluations:
        auc = e.metrics.get("roc_auc")
        auc_text = (
            f"{auc.value:.3f} ({auc.ci_low:.3f}-{auc.ci_high:.3f})"
            if auc is not None and auc.defined and auc.ci_low is not None
            else "-"
        )
        status = _status_text(e)
        colour = "red" if e.failure else "green"
        time_text = f"{e.run.wall_time_s:.1f} s" if e.run else "-"
        table.add_row(
            escape(student_label(e.student_id, names.get(e.student_id, ""))),
            f"[{colour}]{status}[/]",
            auc_text,
            _marks_text(e),
            time_text,
        )
    return table


def _print_evaluation(evaluation: Evaluation) -> None:
    e = evaluation
    where = (
        "held-out test split"
        if e.labels_hidden
        else f"{e.split} split (self-check, not your final marks)"
    )
    stdout.print(f"[bold]{escape(e.student_id)}[/] on [bold]{e.task_id}[/], {where}")
    if e.failure is not None:
        stdout.print(f"[bold red]failed: {e.failure.kind}[/] - {escape(e.failure.message)}")
        stdout.print(escape(e.failure.explanation))
        if e.failure.detail:
            lines = e.failure.detail.rstrip().splitlines()
            stdout.print(escape("\n".join(lines[-40:])), highlight=False)
    for hint in e.hints:
        stdout.print(f"[bold yellow]hint:[/] {escape(hint)}")
    if e.metrics:
        table = Table(title="Metrics")
        for column in ("metric", "value", "95% CI"):
            table.add_column(column)
        for name, r in e.metrics.items():
            ci = (
                f"{r.ci_low:.4f} - {r.ci_high:.4f}"
                if r.ci_low is not None and r.ci_high is not None
                else "-"
            )
            table.add_row(name, f"{r.value:.4f}" if r.defined else f"undefined ({r.reason})", ci)
        stdout.print(table)
    marks = Table(title=f"Marks {_marks_text(e)}")
    for column in ("criterion", "points", "how"):
        marks.add_column(column)
    for m in e.marks.marks:
        points = "pending" if m.points is None else f"{m.points:g}/{m.max_points:g}"
        marks.add_row(escape(m.title), points, escape(m.explanation))
    stdout.print(marks)
    stdout.print(f"Report: {e.report_path}")


@app.command()
def check(
    submission: Annotated[Path, typer.Argument(help="Submission folder or .zip.", exists=True)],
    task: TaskOption,
    backend: BackendOption = "auto",
    gpus: GpusOption = None,
    out: OutOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Self-check a submission on the validation split, exactly as the marker will run it.

    Exit status: 0 graded, 1 the submission failed, 2 a usage or task error.
    """
    with (
        errors_exit(),
        console.status("running the submission in the sandbox...", spinner="dots"),
    ):
        evaluation = journeys.check(
            task,
            submission,
            backend=backend,
            gpus=gpu_selection(gpus, task),
            out=out or Path("medgrade-check"),
            data_dir=data_dir,
            on_note=note,
        )
    if as_json:
        print(json.dumps(evaluation.to_dict(), indent=2))
    else:
        _print_evaluation(evaluation)
    raise typer.Exit(1 if evaluation.failure else 0)


@app.command()
def grade(
    submissions: Annotated[
        Path,
        typer.Argument(
            help="Folder with one subfolder or .zip per student, or an unzipped Canvas or "
            "Moodle submissions download.",
            exists=True,
        ),
    ],
    task: TaskOption,
    backend: BackendOption = "auto",
    unsafe_local: Annotated[
        bool, typer.Option("--unsafe-local", help="Allow the non-isolating local backend.")
    ] = False,
    gpus: GpusOption = None,
    out: OutOption = None,
    data_dir: DataDirOption = None,
    workers: WorkersOption = None,
    manual_marks: Annotated[
        Path | None, typer.Option(help="Manual marks CSV (default: OUT/manual_marks.csv).")
    ] = None,
    regrade: Annotated[
        list[str] | None,
        typer.Option(
            "--regrade",
            metavar="STUDENT",
            help="Run this student's submission again even if unchanged (repeatable).",
        ),
    ] = None,
    regrade_all: Annotated[
        bool, typer.Option("--regrade-all", help="Run every submission again, reusing none.")
    ] = False,
    verify_determinism: Annotated[
        int,
        typer.Option(
            "--verify-determinism",
            metavar="K",
            min=0,
            help="Run K submissions (a sample fixed by their ids) again with predict called "
            "twice, and flag those whose outputs differ.",
        ),
    ] = 0,
    references: ReferencesOption = None,
    roster: Annotated[
        Path | None,
        typer.Option(
            "--roster",
            exists=True,
            dir_okay=False,
            help="Class roster CSV: student_id (required), name, email, sis_id, sis_login_id, "
            "section. Students without a submission are listed as missing.",
        ),
    ] = None,
    submission_times: Annotated[
        Path | None,
        typer.Option(
            "--submission-times",
            exists=True,
            dir_okay=False,
            help="CSV of student_id,submitted_at (ISO 8601 with a UTC offset) for the rubric's "
            "late_policy.",
        ),
    ] = None,
    lms: Annotated[
        list[str] | None,
        typer.Option(
            "--lms",
            metavar="canvas|moodle|gradescope",
            help="Also write this LMS's gradebook import beside gradebook.csv (repeatable).",
        ),
    ] = None,
    assignment_name: Annotated[
        str | None,
        typer.Option(help="The assignment's title in the LMS (Canvas column name)."),
    ] = None,
    assignment_id: Annotated[
        str | None,
        typer.Option(help="The assignment's id in the LMS (Canvas: the number in its URL)."),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Run the sandboxes on a Dask cluster, e.g. tcp://scheduler:8786 (each "
            "worker needs medgrade, the dataset and a sandbox; --workers is then the "
            "cluster's thread count).",
        ),
    ] = None,
    leaderboard: Annotated[
        bool, typer.Option("--leaderboard", help="Rank the students on the class dashboard.")
    ] = False,
    warm_pool: Annotated[
        bool,
        typer.Option(
            "--warm-pool/--no-warm-pool",
            help="With bubblewrap, fork each run from a sandboxed server that imported numpy, "
            "torch and scikit-learn once (each run still single-use and isolated); "
            "--no-warm-pool starts every run from scratch.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Grade a class on the hidden test split: reports, SQLite store and gradebook.

    Run again with the same OUT, it resumes: submissions unchanged since their last run
    (same files, task version, data and sandbox) are reused, re-marked against the current
    rubric and manual marks; new and changed ones are graded.
    """
    out = out or Path("medgrade-out")
    with errors_exit():
        from grader.lms import LmsExport, read_download

        # Checked before the progress bar starts, so a mistake reads as the only output.
        LmsExport.parse(lms or (), assignment_name=assignment_name, assignment_id=assignment_id)
        download = read_download(submissions)
        with _batch_progress(len(download.students), enabled=True, out=out) as batch:
            result = journeys.grade(
                submissions,
                task,
                backend=backend,
                unsafe_local=unsafe_local,
                gpus=gpu_selection(gpus, task),
                on_note=note,
                out=out,
                data_dir=data_dir,
                workers=workers,
                manual_marks=manual_marks,
                regrade=regrade or (),
                regrade_all=regrade_all,
                verify_determinism=verify_determinism,
                references=references,
                roster=roster,
                submission_times=submission_times,
                lms=lms or (),
                assignment_name=assignment_name,
                assignment_id=assignment_id,
                cluster=cluster,
                leaderboard=leaderboard,
                warm_pool=warm_pool,
                on_start=batch.started,
                on_result=batch.finished,
            )
    if as_json:
        print(json.dumps([e.to_dict() for e in result.evaluations], indent=2))
        console.print(_graded_text(result))
        return
    stdout.print(
        _summary_table(
            result.evaluations, f"{len(result.evaluations)} submissions", names=result.names
        )
    )
    _print_outputs(result)


def _graded_text(result: journeys.BatchResult) -> str:
    graded = f"Graded:       {len(result.graded)} submission(s)"
    if not result.reused:
        return graded
    remarked = f", {len(result.remarked)} of them re-marked" if result.remarked else ""
    return (
        f"{graded}, reused {len(result.reused)} unchanged since their last run{remarked} "
        "(--regrade STUDENT or --regrade-all runs them again)"
    )


def _print_outputs(result: journeys.BatchResult) -> None:
    for text in result.notes:
        note(text)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if result.missing:
        missing = [student_label(s, result.names.get(s, "")) for s in result.missing]
        console.print(
            f"[yellow]missing:[/] no submission from {len(result.missing)} student(s) on the "
            f"roster: {escape(', '.join(missing))}"
        )
    stdout.print(_graded_text(result))
    backends = sorted({e.run.backend for e in result.evaluations if e.run is not None})
    if backends:
        stdout.print(f"Sandbox:      {', '.join(backends)}")
    stdout.print(f"Reports:      {result.out / 'reports'}/<student>.html")
    if result.dashboard is not None:
        stdout.print(f"Dashboard:    {result.dashboard}")
    stdout.print(f"Gradebook:    {result.gradebook_path}")
    for export in result.exports:
        stdout.print(f"LMS import:   {export}")
    stdout.print(f"Store:        {result.store_path}")
    if result.manual_marks_path is not None:
        stdout.print(
            f"Manual marks: {result.manual_marks_path} (fill in, then run the same command again)"
        )


@app.command()
def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output folder (default: $XDG_DATA_HOME/medgrade/demo, "
            "~/.local/share/medgrade/demo without it).",
        ),
    ] = None,
    backend: BackendOption = "auto",
    workers: WorkersOption = 2,
) -> None:
    """Grade the bundled example submissions on breast-cancer-wdbc, as a marker would."""
    # Outside the working directory: run from a checkout, the demo's reports (an executed
    # notebook among them) would land in the source tree, where linters and git see them.
    out = out or journeys.default_demo_out()
    with errors_exit():
        examples = journeys.demo_submissions()
        stdout.print(
            f"medgrade {__version__} demo: grading {len(examples)} example submissions on "
            f"[bold]{journeys.DEMO_TASK}[/] (hidden test split)"
        )
        with _batch_progress(len(examples), enabled=True, out=out) as batch:
            result = journeys.demo(
                out=out,
                backend=backend,
                workers=workers,
                on_start=batch.started,
                on_result=batch.finished,
                on_note=note,
            )
    stdout.print(_summary_table(result.evaluations, "Demo results"))
    _print_outputs(result)
    stdout.print(f"Open {result.out / 'reports' / 'good.html'} in a browser to see a full report.")


@app.command()
def export(
    graded: Annotated[
        Path,
        typer.Argument(
            help="A graded notebook (reports/<student>.ipynb), or a grading output folder.",
            exists=True,
        ),
    ],
    to: Annotated[str, typer.Option("--to", help="html or pdf.")] = "html",
    student: Annotated[
        list[str] | None, typer.Option("--student", "-s", help="Only these students (repeat).")
    ] = None,
    out: OutOption = None,
) -> None:
    """Export graded notebooks, with their reports appended, to HTML or PDF (nbconvert).

    For markers who read the write-up next to the automatic marks; the notebook shows the
    outputs as the sandbox ran it.
    """
    from grader.report import export_notebook, graded_notebooks

    if to not in ("html", "pdf"):
        console.print(f"[red]error:[/] --to must be html or pdf, not {to!r}")
        raise typer.Exit(2)
    with errors_exit():
        notebooks = graded_notebooks(graded)
        if student:
            notebooks = [p for p in notebooks if p.stem in student]
            missing = sorted(set(student) - {p.stem for p in notebooks})
            if missing:
                console.print(f"[yellow]warning:[/] no graded notebook for {', '.join(missing)}")
        folder = out or OutputFolder(graded.parent if graded.is_file() else graded).exports
        for notebook in notebooks:
            written = export_notebook(notebook, folder / f"{notebook.stem}.{to}", to=to)  # type: ignore[arg-type]
            stdout.print(f"wrote {written}")


@app.command()
def doctor() -> None:
    """Check what this machine can run: Docker, GPU runtime, grading image, bubblewrap, cgroups."""
    from grader.doctor import diagnose

    table = Table(title="medgrade doctor")
    for column in ("check", "status", "detail"):
        table.add_column(column)
    colours = {"ok": "green", "warn": "yellow", "missing": "red"}
    for finding in diagnose():
        table.add_row(
            finding.name, f"[{colours[finding.status]}]{finding.status}[/]", escape(finding.detail)
        )
    stdout.print(table)
