"""A task's declared grading environment: one lock, the same packages on every backend.

The build tests install real locks (numpy alone; numpy and six) with uv from wheels pip
downloads, as a virtual environment and, where Docker runs, as an image, then grade one
submission on bubblewrap and Docker and compare what the two runs saw.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest
import yaml

from grader import journeys
from grader.environment import (
    build_image,
    build_venv,
    check_environment,
    declared_environment,
    describe,
    fetch_wheels,
    lock_environment,
    normalized,
    packages_digest,
    task_runtime,
    with_available_packages,
)
from grader.errors import SpecError
from grader.tasks import load_task, task_ids
from sandbox import SandboxUnavailableError, get_backend
from sandbox._docker import _client
from sandbox._image import LOCAL_BASE

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "environments"
EXAMPLES = REPO / "examples" / "submissions"


def _task_with_environment(parent: Path, environment: dict[str, object]) -> Path:
    """A copy of breast-cancer-wdbc (in ``parent``) that declares ``environment``."""
    folder = parent / "breast-cancer-wdbc"
    shutil.copytree(REPO / "tasks" / "breast-cancer-wdbc", folder)
    spec = yaml.safe_load((folder / "task.yaml").read_text())
    spec["environment"] = environment
    (folder / "task.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


# --- The declaration and its lock --------------------------------------------------------


def test_every_bundled_task_declares_one_locked_environment():
    environments = {declared_environment(load_task(t)) for t in task_ids()}
    assert None not in environments
    locks = {environment.lock for environment in environments if environment is not None}
    assert locks == {REPO / "tasks" / "environments" / "pytorch-cpu.lock"}
    environment = next(e for e in environments if e is not None)
    packages = environment.packages()
    assert packages["torch"] == "2.13.0+cpu"
    # what the harness needs comes with every environment
    assert {"numpy", "nbclient", "ipykernel"} <= set(packages)
    assert describe(environment, dependencies=False).startswith("numpy 2.4.6, torch 2.13.0+cpu")


def test_the_harness_requirements_are_added_once(tmp_path):
    folder = _task_with_environment(
        tmp_path / "task", {"packages": ["numpy>=2", "scikit_learn"], "notebooks": True}
    )
    environment = declared_environment(load_task(folder))
    assert environment is not None
    assert environment.requirements == ("numpy>=2", "scikit_learn", "nbclient", "ipykernel")
    assert environment.lock == folder / "environment.lock"
    assert not environment.locked
    assert "declared but not locked" in describe(environment)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        (
            {"requirements": "a.txt", "packages": ["numpy"]},
            "exactly one of 'requirements' or 'packages'",
        ),
        ({}, "exactly one of 'requirements' or 'packages'"),
        ({"requirements": "missing.txt"}, "environment.requirements: no requirements file"),
        ({"requirements": "no-such-environment"}, "environments/no-such-environment.txt"),
        ({"packages": ["numpy"], "pip": True}, "environment.pip"),
    ],
)
def test_a_malformed_environment_names_the_field_and_the_file(tmp_path, environment, expected):
    folder = _task_with_environment(tmp_path / "task", environment)
    with pytest.raises(SpecError) as raised:
        load_task(folder)
    assert expected in str(raised.value)
    assert str(folder / "task.yaml") in str(raised.value)


def test_names_compare_as_pep_503_says():
    assert normalized("Scikit_Learn") == normalized("scikit.learn") == "scikit-learn"
    assert packages_digest([("Typing_Extensions", "4.16.0"), ("numpy", "2.4.6")]) == (
        packages_digest([("numpy", "2.4.6"), ("typing-extensions", "4.16.0")])
    )
    assert packages_digest([("numpy", "2.4.6")]) != packages_digest([("numpy", "2.4.5")])


def test_a_run_environment_is_compared_with_the_lock(tmp_path):
    folder = _task_with_environment(
        tmp_path / "task", {"requirements": str(FIXTURES / "numpy-six.txt")}
    )
    declared = declared_environment(load_task(folder))
    assert declared is not None and declared.locked
    same = check_environment(declared, [("numpy", "2.4.6"), ("six", "1.17.0")])
    assert same.matches and same.digest == declared.digest
    assert "the task's declared environment" in same.summary()
    other = check_environment(declared, [("numpy", "2.4.5"), ("pandas", "3.1.1")])
    assert not other.matches
    assert other.missing == ("six 1.17.0",)
    assert other.different == ("numpy 2.4.5 (declared 2.4.6)",)
    assert other.unexpected == ("pandas 3.1.1",)
    assert "differs from the task's declared environment" in other.summary()
    undeclared = check_environment(None, [("numpy", "2.4.6")])
    assert undeclared.declared_digest is None and not undeclared.matches


def test_a_missing_module_names_what_is_available():
    message = with_available_packages(
        "ModuleNotFoundError while importing predict.py: No module named 'pandas.core'",
        [("numpy", "2.4.6"), ("pip", "24.0"), ("Six", "1.17.0")],
    )
    assert "'pandas' is not in the grading environment, which offers numpy 2.4.6, six 1.17.0" in (
        message
    )
    assert "pip" not in message.split("offers")[1]
    assert with_available_packages("ValueError: bad", [("numpy", "2")]) == "ValueError: bad"


# --- Building it, and grading in it ---------------------------------------------------------


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels of both fixture locks, downloaded once through pip."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    task = _task_with_environment(
        tmp_path_factory.mktemp("wheel-task") / "task",
        {"requirements": str(FIXTURES / "numpy-six.txt"), "notebooks": False},
    )
    environment = declared_environment(load_task(task))
    assert environment is not None
    fetch_wheels(environment, folder)
    return folder


@pytest.fixture(scope="module")
def environments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("environments")


def _docker_base() -> str | None:
    try:
        _client().images.get(LOCAL_BASE)
    except Exception:
        return None
    return LOCAL_BASE


def _built_task(
    folder: Path, lock: str, wheelhouse: Path, environments: Path, monkeypatch
) -> tuple[Path, list[str]]:
    """A copy of breast-cancer-wdbc whose environment is ``lock``, built for bubblewrap and
    (where Docker and the offline base image are here) Docker; the backends it is built for."""
    monkeypatch.setenv("MEDGRADE_ENVIRONMENTS", str(environments))
    task_folder = _task_with_environment(
        folder, {"requirements": str(FIXTURES / f"{lock}.txt"), "notebooks": False}
    )
    environment = declared_environment(load_task(task_folder))
    assert environment is not None
    build_venv(environment, wheelhouse)
    backends = ["bwrap"]
    base = _docker_base()
    if base is not None:
        build_image(environment, wheelhouse, base_image=base)
        backends.append("docker")
    return task_folder, backends


def _needs_bwrap() -> None:
    try:
        get_backend("bwrap").close()
    except SandboxUnavailableError as error:
        pytest.skip(f"bubblewrap unavailable here: {error}")


def _remove_image(tag: str) -> None:
    with contextlib.suppress(Exception):
        _client().images.remove(tag, force=True)


def test_relocking_offline_from_the_wheelhouse_resolves_the_same_versions(wheelhouse, tmp_path):
    folder = tmp_path / "env"
    folder.mkdir()
    (folder / "numpy-six.txt").write_text((FIXTURES / "numpy-six.txt").read_text())
    task = _task_with_environment(
        tmp_path / "task", {"requirements": str(folder / "numpy-six.txt"), "notebooks": False}
    )
    environment = declared_environment(load_task(task))
    assert environment is not None
    lock_environment(environment, find_links=[wheelhouse], offline=True)
    committed = declared_environment(
        load_task(
            _task_with_environment(
                tmp_path / "committed", {"requirements": str(FIXTURES / "numpy-six.txt")}
            )
        )
    )
    assert committed is not None
    assert environment.packages() == committed.packages() == {"numpy": "2.4.6", "six": "1.17.0"}
    assert "--hash=sha256:" in environment.lock.read_text()


def test_an_undeclared_package_fails_alike_everywhere_and_a_declared_one_is_graded_alike(
    tmp_path, wheelhouse, environments, monkeypatch
):
    _needs_bwrap()
    submission = tmp_path / "student"
    shutil.copytree(EXAMPLES / "weak", submission)
    with (submission / "predict.py").open("a") as source:
        source.write("\nimport six  # noqa: E402 - not in the numpy-only environment\n")

    built_images: list[str] = []
    try:
        results = {}
        for lock in ("numpy", "numpy-six"):
            task_folder, backends = _built_task(
                tmp_path / lock, lock, wheelhouse, environments, monkeypatch
            )
            task = load_task(task_folder)
            runtime = task_runtime(task)
            assert runtime.venv_built
            declared = runtime.declared
            assert declared is not None
            if "docker" in backends:
                built_images.append(declared.image)
                assert runtime.image_built
                labels = _client().images.get(declared.image).labels
                assert labels["org.medgrade.environment"] == declared.digest
            for backend in backends:
                notes: list[str] = []
                evaluation = journeys.check(
                    task,
                    submission,
                    backend=backend,
                    out=tmp_path / f"{lock}-{backend}",
                    on_note=notes.append,
                )
                assert not any("not built" in note for note in notes), notes
                assert evaluation.environment is not None
                assert evaluation.environment.matches, evaluation.environment.summary()
                assert evaluation.environment.digest == declared.digest
                results[lock, backend] = evaluation

        backends_here = sorted({backend for _, backend in results})
        for backend in backends_here:
            failed = results["numpy", backend]
            assert failed.status == "failed"
            assert failed.failure is not None
            assert failed.failure.message == (
                "ModuleNotFoundError while importing predict.py: No module named 'six': 'six' "
                "is not in the grading environment, which offers numpy 2.4.6 (course staff "
                "declare packages in the task's environment)"
            )
            graded = results["numpy-six", backend]
            assert graded.status == "graded", graded.failure
        first, *others = backends_here
        for backend in others:
            assert results["numpy", backend].failure == results["numpy", first].failure
            assert results["numpy-six", backend].marks == results["numpy-six", first].marks
            assert (
                results["numpy-six", backend].predictions_sha256
                == results["numpy-six", first].predictions_sha256
            )
            assert results["numpy-six", backend].run.packages == (
                results["numpy-six", first].run.packages
            )
        if others == []:
            pytest.skip("Docker or its offline base image is not here: bubblewrap alone checked")
    finally:
        for tag in built_images:
            _remove_image(tag)


def test_a_run_outside_the_declared_environment_says_so_in_its_report(
    tmp_path, environments, monkeypatch
):
    """Declared but not built: the run uses this machine's Python, and the report says so."""
    monkeypatch.setenv("MEDGRADE_ENVIRONMENTS", str(environments / "none-built"))
    task_folder = _task_with_environment(
        tmp_path / "task", {"requirements": str(FIXTURES / "numpy.txt"), "notebooks": False}
    )
    notes: list[str] = []
    evaluation = journeys.check(
        load_task(task_folder),
        EXAMPLES / "weak",
        backend="local",
        out=tmp_path / "out",
        on_note=notes.append,
    )
    assert any("not built for local here" in note for note in notes), notes
    assert evaluation.status == "graded"
    assert evaluation.environment is not None and not evaluation.environment.matches
    assert evaluation.environment.unexpected  # this machine has far more than numpy
    html = Path(evaluation.report_path).read_text()
    assert 'id="environment-differs"' in html
    assert "differs from the task&#39;s declared environment" in html
