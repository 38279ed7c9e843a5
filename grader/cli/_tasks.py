"""``medgrade task`` and ``medgrade data``: tasks and the datasets they read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from grader.cli._app import (
    BackendOption,
    DataDirOption,
    ReferencesOption,
    app,
    console,
    errors_exit,
    note,
    stdout,
    task_app,
)
from grader.errors import DataError, MedgradeError
from grader.submission import SUBMISSION_CONTRACT

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

    with errors_exit():
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

    with errors_exit():
        loaded = load_task(task)
        try:
            load_task_dataset(loaded, data_dir)
        except DataError as error:
            note(f"the spec was not checked against its data: {error}")
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
    seeded = f" (seed {split.seed})" if split.strategy in ("stratified", "grouped") else ""
    stdout.print(f"\n[bold]Split[/]: {split.strategy}{fractions}{seeded}; test labels are hidden.")
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

    with errors_exit():
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

    with errors_exit():
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

    with errors_exit():
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
    from grader.journeys import default_workers, validate_task
    from grader.tasks import load_task

    with errors_exit():
        loaded = load_task(task)
        from grader.backend_stack import open_backend_stack

        stack = open_backend_stack(loaded, backend, purpose="check", unsafe_local=False, gpus=None)
        for text in stack.notes:
            note(text)
        with console.status("running the reference and a null model through the sandbox..."):
            report = validate_task(
                loaded,
                backend=stack.backend,
                data_dir=data_dir,
                references=references,
                workers=default_workers(stack.placement),
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

    with errors_exit():
        loaded = load_task(task)
        manifest = recompute_split(loaded, data_dir)
    for name, ids in manifest.case_ids.items():
        print(f"{name:>10}: {len(ids):5d} cases  sha256 {manifest.sha256(name)}")
    if write:
        manifest.write(loaded.manifest_path)
        stdout.print(f"wrote {loaded.manifest_path}")
