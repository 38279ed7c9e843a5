"""A task's declared grading environment: the same packages on every backend.

A task declares the Python packages its sandbox offers (``environment:`` in its spec:
inline, in a course-wide requirements file that several tasks name, or one of medgrade's
own, such as ``pytorch-cpu``).  ``medgrade env
lock TASK`` resolves them once, with uv (a real resolver), into a lock of exact versions
and hashes for the grading platform, committed beside the declaration.  ``medgrade env
build TASK`` installs exactly that lock, with uv again and offline from a wheelhouse, as
a virtual environment that bubblewrap (and the local backend) run, and as the Docker
image ``medgrade/env:<digest>``: a self-check on a laptop and a marker's Docker server
then run the same packages, never the grader's own environment.

Every run lists the packages its Python had (the supervisor reads them before the
submission starts); the grader compares them with the lock, records their digest, and a
run in any other environment says so in its report.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grader.errors import MedgradeError, SpecError
from grader.tasks import Task
from grader.tasks._catalog import requirements_path
from sandbox import Choice, GpuSelection, Runtime, choose_backend
from sandbox._select import Purpose

ENVIRONMENTS_VARIABLE = "MEDGRADE_ENVIRONMENTS"
#: What the harness needs in every environment, and what notebooks need besides.
HARNESS_REQUIREMENTS = ("numpy",)
NOTEBOOK_REQUIREMENTS = ("nbclient", "ipykernel")
#: The platform a lock is resolved for: the grading images' (Debian bookworm, CPython 3.11).
PYTHON_VERSION = "3.11"
UV_PLATFORM = "x86_64-manylinux_2_28"
PIP_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64")
#: Written into a built virtual environment: which lock it holds.
BUILT_MARKER = "medgrade-environment.json"
IMAGE_REPOSITORY = "medgrade/env"
IMAGE_LABEL = "org.medgrade.environment"
#: Installers' own tools, never what a "No module named" message should suggest.
_TOOLS = frozenset({"pip", "setuptools", "wheel", "uv"})
_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


class EnvironmentBuildError(MedgradeError):
    """A declared environment that cannot be locked or built."""


def normalized(name: str) -> str:
    """A distribution's name as PEP 503 compares them (``scikit_learn`` is ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def packages_digest(packages: Iterable[tuple[str, str]]) -> str:
    """The digest of a set of packages (16 hex digits of a sha256): a run's environment,
    and a lock's, are the same when their digests are."""
    lines = sorted(f"{normalized(name)}=={version}" for name, version in packages)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class GradingEnvironment:
    """A task's declared environment: its requirements and where its lock is."""

    task_id: str
    requirements: tuple[str, ...]
    lock: Path

    @property
    def locked(self) -> bool:
        return self.lock.is_file()

    def packages(self) -> dict[str, str]:
        """The locked packages' versions, by normalised name."""
        if not self.locked:
            raise EnvironmentBuildError(
                f"{self.task_id}'s environment is not locked yet: course staff run "
                f"'medgrade env lock {self.task_id}' once, which writes {self.lock}"
            )
        return _read_lock(self.lock, self.lock.stat().st_mtime_ns)

    @property
    def digest(self) -> str:
        return packages_digest(self.packages().items())

    @property
    def image(self) -> str:
        return f"{IMAGE_REPOSITORY}:{self.digest}"

    def venv(self, environments: Path | None = None) -> Path:
        return (environments or environments_dir()) / self.digest

    def built_python(self, environments: Path | None = None) -> Path | None:
        """The built virtual environment's interpreter, or None when it is not built."""
        if not self.locked:
            return None
        venv = self.venv(environments)
        try:
            built = json.loads((venv / BUILT_MARKER).read_text()).get("digest")
        except (OSError, ValueError, AttributeError):
            return None
        python = venv / "bin" / "python"
        return python if built == self.digest and python.exists() else None


@functools.lru_cache(maxsize=32)
def _read_lock(lock: Path, _mtime_ns: int) -> dict[str, str]:
    pinned = (_PINNED.match(line.strip()) for line in lock.read_text().splitlines())
    return {normalized(match.group(1)): match.group(2) for match in pinned if match}


def environments_dir() -> Path:
    """Where built virtual environments live: ``$MEDGRADE_ENVIRONMENTS``, else the user's
    cache (for root, /var/cache: the sandbox identity must be able to read it)."""
    value = os.environ.get(ENVIRONMENTS_VARIABLE, "").strip()
    if value:
        return Path(value)
    if os.geteuid() == 0:
        return Path("/var/cache/medgrade/environments")
    return Path.home() / ".cache" / "medgrade" / "environments"


def declared_environment(task: Task) -> GradingEnvironment | None:
    """The task's environment, or None when it declares none."""
    spec = task.spec.environment
    if spec is None:
        return None
    source = requirements_path(task.spec, task.folder)
    if source is not None:
        try:
            lines = source.read_text().splitlines()
        except OSError as error:
            raise SpecError(
                task.spec_path,
                [f"environment.requirements: cannot read {source} ({error.strerror})"],
            ) from None
        declared = [line.split("#")[0].strip() for line in lines]
        lock = source.with_suffix(".lock")
    else:
        declared = list(spec.packages or [])
        lock = task.folder / "environment.lock"
    declared = [requirement for requirement in declared if requirement]
    named = {normalized(re.split(r"[\s<>=!~;\[@]", r, maxsplit=1)[0]) for r in declared}
    extra = HARNESS_REQUIREMENTS + (NOTEBOOK_REQUIREMENTS if spec.notebooks else ())
    requirements = tuple(dict.fromkeys([*declared, *(r for r in extra if r not in named)]))
    return GradingEnvironment(task.id, requirements, lock)


@dataclass(frozen=True)
class TaskRuntime:
    """What a task's runs use on this machine, and what the user should hear about it."""

    runtime: Runtime
    declared: GradingEnvironment | None
    venv_built: bool
    image_built: bool

    def notes_for(self, backend: str) -> list[str]:
        declared = self.declared
        if declared is None:
            return []
        if not declared.locked:
            return [
                f"{declared.task_id}'s environment is declared but not locked: runs use "
                f"{_default_for(backend)} (course staff: medgrade env lock {declared.task_id})"
            ]
        built = self.image_built if backend == "docker" else self.venv_built
        if built:
            return []
        return [
            f"{declared.task_id}'s grading environment is not built for {backend} here, so "
            f"runs use {_default_for(backend)} and their reports say they differ from the "
            f"marker's: run 'medgrade env build {declared.task_id}'"
        ]


def _default_for(backend: str) -> str:
    return "the default grading image" if backend == "docker" else "this machine's Python"


def task_runtime(task: Task, *, docker: bool = True) -> TaskRuntime:
    """The runtime of ``task``'s runs: its built environment, where it is built (the image
    is looked for only when ``docker`` may be used)."""
    declared = declared_environment(task)
    if declared is None or not declared.locked:
        return TaskRuntime(Runtime(), declared, venv_built=False, image_built=False)
    python = declared.built_python()
    image_built = docker and _image_exists(declared.image)
    return TaskRuntime(
        Runtime(
            python=str(python) if python is not None else sys.executable,
            image=declared.image if image_built else None,
        ),
        declared,
        venv_built=python is not None,
        image_built=image_built,
    )


def choose_task_backend(
    task: Task,
    name: str = "auto",
    *,
    purpose: Purpose,
    unsafe_local: bool = False,
    gpus: GpuSelection | None = None,
) -> Choice:
    """:func:`sandbox.choose_backend` for ``task``: its runs use the task's environment
    where it is built, and the notes say where it is not."""
    found = task_runtime(task, docker=name in {"auto", "docker"})
    choice = choose_backend(
        name, purpose=purpose, unsafe_local=unsafe_local, gpus=gpus, runtime=found.runtime
    )
    return Choice(choice.backend, (*choice.notes, *found.notes_for(choice.backend.name)))


def _image_exists(tag: str) -> bool:
    from sandbox._docker import image_exists

    return image_exists(tag)


def _uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        raise EnvironmentBuildError(
            "locking and building environments needs uv: pip install 'medgrade[env]'"
        ) from None
    return find_uv_bin()


def lock_environment(
    environment: GradingEnvironment,
    *,
    find_links: Iterable[Path] = (),
    offline: bool = False,
) -> Path:
    """Resolve the requirements into the lock: every package, pinned with its hashes, for
    the grading platform.  ``find_links`` add local wheels (a CPU build of torch, say);
    ``offline`` resolves from them alone (an air-gapped server)."""
    with tempfile.TemporaryDirectory(prefix="medgrade-lock-") as scratch:
        source = Path(scratch) / "requirements.in"
        source.write_text("\n".join(environment.requirements) + "\n")
        command = [
            _uv(), "pip", "compile", str(source), "--output-file", str(environment.lock),
            "--generate-hashes", "--python-version", PYTHON_VERSION,
            "--python-platform", UV_PLATFORM, "--no-header", "--no-annotate", "--quiet",
            *[part for folder in find_links for part in ("--find-links", str(folder))],
            *(["--no-index"] if offline else []),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise EnvironmentBuildError(
            f"resolving {environment.task_id}'s environment failed:\n{done.stderr.strip()[-2000:]}"
        )
    return environment.lock


def fetch_wheels(environment: GradingEnvironment, wheelhouse: Path) -> None:
    """Download the lock's wheels for the grading platform into ``wheelhouse``, through
    pip and its configuration (an index, ``PIP_FIND_LINKS``...), checking their hashes."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--python-version", PYTHON_VERSION, "--implementation", "cp",
        *[part for platform in PIP_PLATFORMS for part in ("--platform", platform)],
        "--require-hashes", "-d", str(wheelhouse), "-r", str(environment.lock),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise EnvironmentBuildError(
            f"downloading the wheels failed:\n{done.stderr.strip()[-2000:]}"
        )


def build_venv(
    environment: GradingEnvironment, wheelhouse: Path, *, environments: Path | None = None
) -> Path:
    """The environment as a virtual environment (for bubblewrap and the local backend),
    installed from ``wheelhouse`` exactly as the image's is; returns its interpreter."""
    venv = environment.venv(environments)
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    uv = _uv()
    for command in (
        [uv, "venv", "--quiet", "--python", PYTHON_VERSION, "--no-python-downloads", str(venv)],
        [
            uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
            "--no-index", "--find-links", str(wheelhouse), "--require-hashes", "--no-deps",
            "--link-mode", "copy", "-r", str(environment.lock),
        ],
    ):  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise EnvironmentBuildError(
                f"building {environment.task_id}'s environment failed:\n"
                f"{done.stderr.strip()[-2000:]}"
            )
    (venv / BUILT_MARKER).write_text(
        json.dumps({"task": environment.task_id, "digest": environment.digest}) + "\n"
    )
    # Readable by the sandbox identity whoever builds it (root's umask may be stricter).
    for path in (venv, *venv.rglob("*")):
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
    return venv / "bin" / "python"


def build_image(environment: GradingEnvironment, wheelhouse: Path, *, base_image: str) -> str:
    """The environment as the Docker image :attr:`GradingEnvironment.image`."""
    from sandbox._image import build_environment_image

    return build_environment_image(
        lock=environment.lock,
        wheelhouse=wheelhouse,
        uv=Path(_uv()),
        tag=environment.image,
        base_image=base_image,
        labels={IMAGE_LABEL: environment.digest},
    )


def describe(environment: GradingEnvironment | None, *, dependencies: bool = True) -> str:
    """The packages, for ``task show``, the bundle and the report: the declared ones with
    their locked versions, then (``dependencies``) what they need, or how many."""
    if environment is None:
        return "not declared: the sandbox has whatever its backend has"
    if not environment.locked:
        return "declared but not locked: " + ", ".join(environment.requirements)
    locked = environment.packages()
    asked = [
        normalized(re.split(r"[\s<>=!~;\[@]", requirement, maxsplit=1)[0])
        for requirement in environment.requirements
    ]
    shown = ", ".join(f"{name} {locked[name]}" for name in dict.fromkeys(asked) if name in locked)
    rest = sorted(name for name in locked if name not in asked)
    if not dependencies:
        return f"{shown}, and {len(rest)} packages they need (medgrade env show lists them)"
    return f"{shown}; what they need: " + ", ".join(f"{name} {locked[name]}" for name in rest)


@dataclass(frozen=True)
class EnvironmentCheck:
    """A run's environment compared with its task's declaration."""

    digest: str
    declared_digest: str | None
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    different: tuple[str, ...] = ()

    @property
    def matches(self) -> bool:
        return self.declared_digest == self.digest

    def summary(self) -> str:
        if self.declared_digest is None:
            return f"environment {self.digest}: the task declares none"
        if self.matches:
            return f"environment {self.digest}: the task's declared environment"
        parts = [
            f"{label} {_listed(names)}"
            for label, names in (
                ("missing", self.missing),
                ("other versions", self.different),
                ("not declared", self.unexpected),
            )
            if names
        ]
        return (
            f"environment {self.digest} differs from the task's declared environment "
            f"{self.declared_digest} ({'; '.join(parts)}): marks may differ from the "
            "marker's; medgrade env build builds the declared one"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "digest": self.digest,
            "declared_digest": self.declared_digest,
            "matches": self.matches,
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "different": list(self.different),
        }


def _listed(names: tuple[str, ...], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def check_environment(
    declared: GradingEnvironment | None, packages: Iterable[tuple[str, str]]
) -> EnvironmentCheck:
    """How the packages a run had compare with ``declared`` (None: nothing declared)."""
    had = {normalized(name): version for name, version in packages}
    if declared is None or not declared.locked:
        return EnvironmentCheck(packages_digest(had.items()), None)
    wanted = declared.packages()
    return EnvironmentCheck(
        digest=packages_digest(had.items()),
        declared_digest=packages_digest(wanted.items()),
        missing=tuple(f"{n} {v}" for n, v in sorted(wanted.items()) if n not in had),
        unexpected=tuple(f"{n} {v}" for n, v in sorted(had.items()) if n not in wanted),
        different=tuple(
            f"{n} {had[n]} (declared {v})"
            for n, v in sorted(wanted.items())
            if n in had and had[n] != v
        ),
    )


_NO_MODULE = re.compile(r"No module named '([^'.]+)")


def with_available_packages(message: str, packages: Iterable[tuple[str, str]]) -> str:
    """A "No module named X" message followed by what the run's environment offers."""
    match = _NO_MODULE.search(message)
    if match is None:
        return message
    offered = sorted(
        (normalized(name), version) for name, version in packages if normalized(name) not in _TOOLS
    )
    listing = ", ".join(f"{name} {version}" for name, version in offered)
    return (
        f"{message}: {match.group(1)!r} is not in the grading environment, which offers "
        f"{listing or 'no packages'} (course staff declare packages in the task's environment)"
    )
