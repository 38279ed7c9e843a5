"""The ``medgrade`` command line: parses arguments and calls :mod:`grader.journeys`."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
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
from grader.errors import DataError, MedgradeError
from grader.evaluation import Evaluation
from grader.output import OutputFolder
from grader.submission import SUBMISSION_CONTRACT
from sandbox import GpuSelection, SandboxUnavailableError

if TYPE_CHECKING:
    from grader.environment import GradingEnvironment

app = typer.Typer(
    help="medgrade: sandboxed autograding of deep-learning mini-projects in healthcare courses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
task_app = typer.Typer(help="List, inspect, validate and author tasks.", no_args_is_help=True)
app.add_typer(task_app, name="task")

console = Console(stderr=True)
stdout = Console()

TaskOption = Annotated[str, typer.Option("--task", "-t", help="Task id, task folder or task.yaml.")]
OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="Output folder.")]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Folder with downloaded datasets (default: $MEDGRADE_DATA)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
ReferencesOption = Annotated[
    Path | None,
    typer.Option(
        "--references",
        file_okay=False,
        help="Staff-only folder of trained references, one sub-folder per task id (default: "
        "$MEDGRADE_REFERENCES); their weights never ship with medgrade.",
    ),
]
BackendOption = Annotated[
    str,
    typer.Option(
        "--backend", "-b", help="Sandbox: auto (docker, else bwrap), docker, bwrap or local."
    ),
]
GpusOption = Annotated[
    str | None,
    typer.Option(
        "--gpus",
        help="GPUs for tasks that want one: all, a count, device=0,1 or none "
        "(default: all when the task wants a GPU).",
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-w",
        min=1,
        help="Submissions run at once (default: one per GPU slot for a GPU task, else one per "
        "core, at most 4).",
    ),
]


@contextmanager
def _errors_exit() -> Iterator[None]:
    try:
        yield
    except (MedgradeError, SandboxUnavailableError) as error:
        # Not wrapped at the terminal's width: a path or a field name stays whole, to copy.
        console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None


def _note(text: str) -> None:
    console.print(f"[yellow]note:[/] {escape(text)}")


def _gpus(text: str | None, task: str) -> GpuSelection | None:
    """The marker's --gpus, or all GPUs when the task wants one and nothing was said."""
    if text is not None:
        try:
            return GpuSelection.parse(text)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--gpus") from None
    from grader.tasks import load_task

    return GpuSelection(count=-1) if load_task(task).spec.limits.gpu else None


class _BatchProgress:
    """What the progress bar shows of a batch: done, failed, running and the slowest run.

    ``started`` and ``finished`` are called from the batch's worker and writing threads;
    the bar's columns read ``running`` whenever rich redraws them.
    """

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.bar = progress.add_task("grading", total=total, last="", failed=0)
        self.failed = 0
        self._running: dict[str, float] = {}
        self._lock = threading.Lock()

    def started(self, student_id: str) -> None:
        with self._lock:
            self._running[student_id] = time.monotonic()

    def finished(self, evaluation: Evaluation) -> None:
        with self._lock:
            self._running.pop(evaluation.student_id, None)
        self.failed += evaluation.failure is not None
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
def _batch_progress(total: int, enabled: bool) -> Iterator[_BatchProgress]:
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


def _summary_table(evaluations: list[Evaluation], title: str) -> Table:
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
            escape(e.student_id), f"[{colour}]{status}[/]", auc_text, _marks_text(e), time_text
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
        _errors_exit(),
        console.status("running the submission in the sandbox...", spinner="dots"),
    ):
        evaluation = journeys.check(
            task,
            submission,
            backend=backend,
            gpus=_gpus(gpus, task),
            out=out or Path("medgrade-check"),
            data_dir=data_dir,
            on_note=_note,
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
    with _errors_exit():
        from grader.lms import LmsExport, read_download

        # Checked before the progress bar starts, so a mistake reads as the only output.
        LmsExport.parse(lms or (), assignment_name=assignment_name, assignment_id=assignment_id)
        download = read_download(submissions)
        with _batch_progress(len(download.students), enabled=True) as batch:
            result = journeys.grade(
                submissions,
                task,
                backend=backend,
                unsafe_local=unsafe_local,
                gpus=_gpus(gpus, task),
                on_note=_note,
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
    stdout.print(_summary_table(result.evaluations, f"{len(result.evaluations)} submissions"))
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
    for note in result.notes:
        _note(note)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if result.missing:
        console.print(
            f"[yellow]missing:[/] no submission from {len(result.missing)} student(s) on the "
            f"roster: {escape(', '.join(result.missing))}"
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
    with _errors_exit():
        examples = journeys.demo_submissions()
        stdout.print(
            f"medgrade {__version__} demo: grading {len(examples)} example submissions on "
            f"[bold]{journeys.DEMO_TASK}[/] (hidden test split)"
        )
        with _batch_progress(len(examples), enabled=True) as batch:
            result = journeys.demo(
                out=out,
                backend=backend,
                workers=workers,
                on_start=batch.started,
                on_result=batch.finished,
                on_note=_note,
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
    with _errors_exit():
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


image_app = typer.Typer(help="Build the Docker grading images.", no_args_is_help=True)
app.add_typer(image_app, name="image")


@image_app.command("build")
def image_build(
    tag: Annotated[str, typer.Option(help="Image tag.")] = "medgrade/grading:cpu",
    base_image: Annotated[
        str, typer.Option(help="Base image with Python 3.11 (offline: see 'medgrade image base').")
    ] = "python:3.11-slim",
    wheelhouse: Annotated[
        Path | None,
        typer.Option(help="Offline: a folder of wheels for the packages and their dependencies."),
    ] = None,
    package: Annotated[
        list[str] | None,
        typer.Option(
            "--package",
            "-p",
            help="Packages for submissions (repeat); default torch. The harness's own numpy, "
            "nbclient and ipykernel are always installed.",
        ),
    ] = None,
    cuda: Annotated[bool, typer.Option(help="Build on a PyTorch CUDA runtime base.")] = False,
) -> None:
    """Build the grading image: the harness plus the packages submissions need, no data."""
    from sandbox._image import DEFAULT_CUDA_BASE, DEFAULT_PACKAGES, build_image

    packages = package or [p for p in DEFAULT_PACKAGES if not (cuda and p == "torch")]
    base = DEFAULT_CUDA_BASE if cuda and base_image == "python:3.11-slim" else base_image
    with _errors_exit(), console.status(f"building {tag} on {base}..."):
        image_id = build_image(
            tag=tag, base_image=base, requirements=packages, wheelhouse=wheelhouse, cuda=cuda
        )
    stdout.print(f"built {tag} ({image_id})")


@image_app.command("base")
def image_base(
    tag: Annotated[str, typer.Option(help="Image tag.")] = "medgrade/base:bookworm",
) -> None:
    """Make a minimal Debian base image with Python locally (mmdebstrap), for offline servers."""
    from sandbox._image import make_base_image

    with _errors_exit(), console.status(f"making {tag} with mmdebstrap (about a minute)..."):
        make_base_image(tag)
    stdout.print(f"made {tag}; now: medgrade image build --base-image {tag}")


env_app = typer.Typer(
    help="A task's grading environment: the packages its sandbox offers, on every backend.",
    no_args_is_help=True,
)
app.add_typer(env_app, name="env")
TaskArgument = Annotated[str, typer.Argument(help="Task id, folder or task.yaml.")]


def _declared(task: str) -> GradingEnvironment:
    from grader.environment import declared_environment
    from grader.tasks import load_task

    loaded = load_task(task)
    environment = declared_environment(loaded)
    if environment is None:
        raise MedgradeError(
            f"{loaded.spec_path} declares no environment: add 'environment:' with a "
            "requirements 'file' or a list of 'packages' (medgrade task schema)"
        )
    return environment


@env_app.command("lock")
def env_lock(
    task: TaskArgument,
    find_links: Annotated[
        list[Path] | None,
        typer.Option("--find-links", help="A folder of wheels to resolve from too (repeat)."),
    ] = None,
    offline: Annotated[
        bool, typer.Option(help="Resolve from the --find-links folders alone.")
    ] = False,
) -> None:
    """Resolve the task's declared packages into its lock (exact versions, hashes), once."""
    from grader.environment import describe, lock_environment

    with _errors_exit():
        environment = _declared(task)
        with console.status(f"resolving {len(environment.requirements)} requirements..."):
            lock = lock_environment(environment, find_links=find_links or (), offline=offline)
    stdout.print(f"wrote {lock} ({len(environment.packages())} packages, {environment.digest})")
    stdout.print(escape(describe(environment)))


@env_app.command("build")
def env_build(
    task: TaskArgument,
    wheelhouse: Annotated[
        Path | None,
        typer.Option(
            help="A folder holding the lock's wheels (offline); without it they are "
            "downloaded through pip and its configuration."
        ),
    ] = None,
    base_image: Annotated[
        str, typer.Option(help="Base image with CPython 3.11 (offline: 'medgrade image base').")
    ] = "python:3.11-slim",
    image: Annotated[
        bool, typer.Option(help="Build the Docker image (where a Docker engine answers).")
    ] = True,
    venv: Annotated[
        bool, typer.Option(help="Build the virtual environment bubblewrap and local runs use.")
    ] = True,
) -> None:
    """Install the task's lock as a virtual environment (bubblewrap, local) and as a Docker
    image, from one set of wheels with one installer: every backend runs the same packages."""
    import tempfile
    import time

    from grader.environment import build_image, build_venv, fetch_wheels
    from sandbox._docker import _client

    with _errors_exit(), tempfile.TemporaryDirectory(prefix="medgrade-wheels-") as scratch:
        environment = _declared(task)
        digest = environment.digest
        if wheelhouse is None:
            wheelhouse = Path(scratch)
            with console.status(f"downloading the wheels of {environment.lock.name}..."):
                fetch_wheels(environment, wheelhouse)
        if venv:
            started = time.perf_counter()
            with console.status("building the virtual environment..."):
                python = build_venv(environment, wheelhouse)
            stdout.print(
                f"built {python.parent.parent} ({digest}) in {time.perf_counter() - started:.1f} s"
            )
        if image:
            try:
                _client()
            except SandboxUnavailableError as error:
                _note(f"no Docker image built: {error}")
            else:
                started = time.perf_counter()
                with console.status(f"building {environment.image} on {base_image}..."):
                    build_image(environment, wheelhouse, base_image=base_image)
                stdout.print(f"built {environment.image} in {time.perf_counter() - started:.1f} s")


@env_app.command("show")
def env_show(task: TaskArgument) -> None:
    """The task's packages, and where its environment is built on this machine."""
    from grader.environment import describe, task_runtime
    from grader.tasks import load_task

    with _errors_exit():
        found = task_runtime(load_task(task))
        environment = found.declared
        stdout.print(escape(describe(environment)))
        if environment is None or not environment.locked:
            return
        stdout.print(f"digest {environment.digest}, lock {environment.lock}")
        venv = environment.venv()
        stdout.print(
            f"bubblewrap/local: {venv}" if found.venv_built else "bubblewrap/local: not built"
        )
        stdout.print(f"docker: {environment.image}" if found.image_built else "docker: not built")
        if not (found.venv_built and found.image_built):
            stdout.print(f"build it: medgrade env build {environment.task_id}")


data_app = typer.Typer(help="Get the datasets tasks read.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("fetch")
def data_fetch(
    task: Annotated[str, typer.Argument(help="Task id, task folder or task.yaml.")],
    data_dir: DataDirOption = None,
) -> None:
    """Download a task's dataset into --data-dir (default $MEDGRADE_DATA), in the layout
    its loader reads; files already there are kept."""
    from grader.data import resolve_data_dir
    from grader.data._fetch import fetch
    from grader.tasks import load_task

    with _errors_exit():
        target = resolve_data_dir(data_dir)
        if target is None:
            raise MedgradeError("say where the data goes: --data-dir DIR or MEDGRADE_DATA=DIR")
        spec = load_task(task).spec

        def show(path: Path, downloaded: bool) -> None:
            stdout.print(f"{'downloaded' if downloaded else 'already there'}: {path}")

        fetch(spec.dataset.loader, spec.dataset.params, target, on_file=show)
        stdout.print(f"{spec.id}: data ready in {target}; licence {spec.dataset.licence}")


@task_app.command("list")
def task_list() -> None:
    """List the installed tasks (bundled ones and those in $MEDGRADE_TASKS)."""
    from grader.tasks import load_task, task_ids

    table = Table(title="medgrade tasks")
    table.add_column("id", no_wrap=True)
    for column in ("version", "title", "dataset", "licence"):
        table.add_column(column)
    for task_id in task_ids():
        try:
            task = load_task(task_id)
        except MedgradeError as error:
            table.add_row(
                task_id, "-", f"[red]invalid: {escape(str(error).splitlines()[0])}[/]", "-", "-"
            )
            continue
        spec = task.spec
        table.add_row(
            spec.id,
            spec.version,
            escape(spec.title),
            spec.dataset.loader,
            escape(spec.dataset.licence),
        )
    stdout.print(table)


@task_app.command("show")
def task_show(
    task: Annotated[str, typer.Argument(help="Task id, folder or task.yaml.")],
    data_dir: DataDirOption = None,
) -> None:
    """Describe a task: what to build, the data, the submission contract, metrics and marks.

    Where its data is on this machine, the attributes the spec names (split.group_key,
    cluster_key, subgroups) are checked against it too."""
    from grader.environment import declared_environment, describe
    from grader.metrics import METRICS
    from grader.rubric import AutomaticCriterion
    from grader.tasks import load_task
    from grader.tasks._against_data import load_task_dataset

    with _errors_exit():
        loaded = load_task(task)
        try:
            load_task_dataset(loaded, data_dir)
        except DataError as error:
            _note(f"the spec was not checked against its data: {error}")
    spec = loaded.spec
    stdout.rule(f"[bold]{spec.id}[/] v{spec.version}: {escape(spec.title)}")
    stdout.print(escape(spec.description.strip()))
    stdout.print(
        f"\n[bold]Dataset[/] ({spec.dataset.loader}) - licence {escape(spec.dataset.licence)}"
    )
    stdout.print(escape(spec.dataset.citation))
    split = spec.split
    fractions = (
        f" {split.fractions.train:g}/{split.fractions.validation:g}/{split.fractions.test:g}"
        if split.fractions
        else ""
    )
    stdout.print(
        f"\n[bold]Split[/]: {split.strategy}{fractions} (seed {split.seed}); test labels are hidden."
    )
    stdout.print(f"\n[bold]Inputs[/] ({spec.inputs.kind}): {escape(spec.inputs.description)}")
    stdout.print(f"[bold]Output[/] ({spec.output.kind}): {escape(spec.output.describe())}.")
    stdout.print(f"\n[bold]Submission contract[/]\n{escape(SUBMISSION_CONTRACT)}")
    limits = spec.limits
    stdout.print(
        f"\n[bold]Limits[/]: {limits.cpu_time_s:g} s of CPU time (a run that hangs is stopped "
        f"after {limits.wall_time_s:g} s), {limits.memory_mb} MiB, "
        f"{limits.cpus:g} CPU(s), GPU {'wanted' if limits.gpu else 'not used'}"
    )
    stdout.print(
        f"\n[bold]Packages[/] in the sandbox: {escape(describe(declared_environment(loaded), dependencies=False))}"
    )
    stdout.print("\n[bold]Metrics[/]: " + ", ".join(METRICS[m.name].title for m in spec.metrics))
    table = Table(
        title=f"Rubric: {escape(loaded.rubric.title)} ({loaded.rubric.max_points:g} points)"
    )
    for column in ("criterion", "points", "how"):
        table.add_column(column)
    for criterion in loaded.rubric.criteria:
        if isinstance(criterion, AutomaticCriterion):
            scale = criterion.scale
            how = (
                f"{criterion.metric}: linear from {scale.floor:g} to {scale.target:g}"
                if scale.type == "linear"
                else f"{criterion.metric}: bands "
                + ", ".join(f"{b.at:g}->{b.points:g}" for b in scale.bands)
            )
        else:
            how = f"marked by hand: {criterion.guidance}"
        table.add_row(escape(criterion.title), f"{criterion.points:g}", escape(how))
    for penalty in loaded.rubric.penalties:
        table.add_row(
            escape(penalty.title),
            f"-{penalty.points:g}",
            f"CPU time over {penalty.cpu_time_over_s:g} s",
        )
    late = loaded.rubric.late_policy
    if late is not None:
        table.add_row(
            "Late submission",
            f"-{late.points_per_day:g}/day",
            f"after {late.deadline.isoformat(timespec='minutes')}"
            + (f" + {late.grace_minutes:g} min" if late.grace_minutes else "")
            + (f"; no marks after {late.max_days} days" if late.max_days else ""),
        )
    stdout.print(table)
    stdout.print(f"\nSelf-check: medgrade check YOUR_FOLDER --task {spec.id}")
    stdout.print(
        f"Reference: `{spec.reference.train_command}` trains it; its weights never ship with "
        "medgrade (staff keep them, see --references)"
    )


@data_app.command("loaders")
def data_loaders() -> None:
    """List the dataset loaders a task's dataset.loader may name, plug-ins included."""
    from grader.data import describe_loaders

    with _errors_exit():
        described = describe_loaders()
    table = Table(title="dataset loaders")
    for column in ("name", "from", "params", "what it reads"):
        table.add_column(column)
    for name, origin, parameters, summary in described:
        table.add_row(name, escape(origin), escape(parameters), escape(summary))
    stdout.print(table)


@task_app.command("new")
def task_new(
    task_id: Annotated[str, typer.Argument(help="The new task's id, e.g. covid-pcr-result.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder to create the task folder in.")
    ] = Path("."),
) -> None:
    """Write a commented task skeleton (a CSV task on the table loader, its rubric and a
    logistic-regression reference) to fill in."""
    from grader.tasks._new import write_task_skeleton

    with _errors_exit():
        written = write_task_skeleton(task_id, directory)
    for path in written:
        stdout.print(f"wrote {path}")
    stdout.print(f"next: fill in the TODOs of {written[0]}, then follow its first lines")


@task_app.command("export-student")
def task_export_student(
    task: Annotated[str, typer.Argument(help="Task id, folder or task.yaml.")],
    out: Annotated[Path, typer.Argument(help="New folder for the bundle.")],
    data_dir: DataDirOption = None,
) -> None:
    """Write what a course hands out: the description, the public splits with labels, a
    starter predict.py and the self-check command (never the test labels)."""
    from grader.bundle import export_student_bundle
    from grader.tasks import load_task

    with _errors_exit():
        written = export_student_bundle(load_task(task), out, data_dir=data_dir)
    for path in written:
        stdout.print(f"wrote {path}")


@task_app.command("validate")
def task_validate(
    task: Annotated[str, typer.Argument(help="Task id, folder or task.yaml.")],
    backend: BackendOption = "auto",
    data_dir: DataDirOption = None,
    references: ReferencesOption = None,
) -> None:
    """Prove a task is fair: the reference reaches full marks, a null model gets the floor
    (both run in the sandbox students' code runs in)."""
    from grader.journeys import validate_task
    from grader.tasks import load_task

    with _errors_exit():
        loaded = load_task(task)
        from grader.environment import choose_task_backend

        choice = choose_task_backend(loaded, backend, purpose="check")
        for note in choice.notes:
            _note(note)
        with console.status("running the reference and a null model through the sandbox..."):
            report = validate_task(
                loaded, backend=choice.backend, data_dir=data_dir, references=references
            )
    for name, ok, detail in report.checks:
        mark = "[green]pass[/]" if ok else "[red]FAIL[/]"
        stdout.print(f"{mark}  {name}: {escape(detail)}")
    if not report.passed:
        stdout.print(f"[bold red]task {loaded.id} is not valid[/]")
        raise typer.Exit(1)
    stdout.print(f"[bold green]task {loaded.id} is valid[/]")


@task_app.command("schema")
def task_schema(
    rubric: Annotated[bool, typer.Option("--rubric", help="The rubric schema instead.")] = False,
) -> None:
    """Print the JSON Schema of task.yaml (or of a rubric file)."""
    from grader.rubric import Rubric
    from grader.tasks.spec import task_json_schema

    print(json.dumps(Rubric.model_json_schema() if rubric else task_json_schema(), indent=2))


@task_app.command("split")
def task_split(
    task: Annotated[str, typer.Argument(help="Task id, folder or task.yaml.")],
    write: Annotated[
        bool, typer.Option("--write", help="Record the split in the task's manifest.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Compute a task's split from its spec; with --write, record it as the manifest."""
    from grader.tasks import load_task, recompute_split

    with _errors_exit():
        loaded = load_task(task)
        manifest = recompute_split(loaded, data_dir)
    for name, ids in manifest.case_ids.items():
        print(f"{name:>10}: {len(ids):5d} cases  sha256 {manifest.sha256(name)}")
    if write:
        manifest.write(loaded.manifest_path)
        stdout.print(f"wrote {loaded.manifest_path}")


def main() -> None:  # pragma: no cover - console-script entry for `python -m grader`
    sys.exit(app())
