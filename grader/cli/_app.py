"""The ``medgrade`` application, its shared options, and how errors and notes are printed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from grader.errors import MedgradeError
from sandbox import GpuSelection, SandboxUnavailableError

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
TaskArgument = Annotated[str, typer.Argument(help="Task id, folder or task.yaml.")]
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
def errors_exit() -> Iterator[None]:
    try:
        yield
    except (MedgradeError, SandboxUnavailableError) as error:
        # Not wrapped at the terminal's width: a path or a field name stays whole, to copy.
        console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(2) from None


def note(text: str) -> None:
    console.print(f"[yellow]note:[/] {escape(text)}")


def gpu_selection(text: str | None, task: str) -> GpuSelection | None:
    """The marker's --gpus, or all GPUs when the task wants one and nothing was said."""
    if text is not None:
        try:
            return GpuSelection.parse(text)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--gpus") from None
    from grader.tasks import load_task

    return GpuSelection(count=-1) if load_task(task).spec.limits.gpu else None
