"""``medgrade image`` and ``medgrade env``: the grading images and environments."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from grader.errors import MedgradeError
from sandbox import SandboxUnavailableError

if TYPE_CHECKING:
    from grader.environment import GradingEnvironment

from grader.cli._app import TaskArgument, app, console, errors_exit, note, stdout

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
    with errors_exit(), console.status(f"building {tag} on {base}..."):
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

    with errors_exit(), console.status(f"making {tag} with mmdebstrap (about a minute)..."):
        make_base_image(tag)
    stdout.print(f"made {tag}; now: medgrade image build --base-image {tag}")


env_app = typer.Typer(
    help="A task's grading environment: the packages its sandbox offers, on every backend.",
    no_args_is_help=True,
)
app.add_typer(env_app, name="env")


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

    with errors_exit():
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

    from grader.environment import build_image, build_venv, fetch_wheels
    from sandbox._docker import _client

    with errors_exit(), tempfile.TemporaryDirectory(prefix="medgrade-wheels-") as scratch:
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
                note(f"no Docker image built: {error}")
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

    with errors_exit():
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
