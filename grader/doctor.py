"""``medgrade doctor``: what this machine can run, checked before a batch rather than during it."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
from dataclasses import dataclass
from typing import Literal

from grader.errors import MedgradeError
from sandbox import BubblewrapBackend, SandboxUnavailableError, choose_backend
from sandbox._cgroups import cgroup_version
from sandbox._docker import DEFAULT_IMAGE, NO_NVIDIA_RUNTIME, _client
from sandbox._identity import identity_conflicts, sandbox_identity

Status = Literal["ok", "warn", "missing"]


@dataclass(frozen=True)
class Finding:
    name: str
    status: Status
    detail: str


def diagnose() -> list[Finding]:
    findings = [
        Finding("medgrade", "ok", importlib.metadata.version("medgrade")),
        Finding("python", "ok", f"{platform.python_version()} ({platform.platform()})"),
        _torch(),
        _identity(),
        *_docker(),
        _bwrap(),
        _cgroups(),
        _notebooks(),
        *_environments(),
        _pdf_export(),
    ]
    for purpose in ("check", "grade"):
        try:
            choice = choose_backend("auto", purpose=purpose)
            choice.backend.close()
            status: Status = "ok" if choice.backend.isolating else "warn"
            findings.append(
                Finding(f"medgrade {purpose} --backend auto", status, f"uses {choice.backend.name}")
            )
        except SandboxUnavailableError as error:
            findings.append(Finding(f"medgrade {purpose} --backend auto", "missing", str(error)))
    return findings


def _torch() -> Finding:
    try:
        import torch
    except ImportError:
        return Finding("pytorch", "missing", "not installed")
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        return Finding("pytorch", "ok", f"{torch.__version__}, CUDA {torch.version.cuda}: {names}")
    return Finding("pytorch", "ok", f"{torch.__version__}, no CUDA device (CPU only)")


def _identity() -> Finding:
    """Who student code runs as on this machine."""
    try:
        identity = sandbox_identity()
    except ValueError as error:
        return Finding("sandbox identity", "missing", str(error))
    conflicts = identity_conflicts(identity)
    if conflicts:
        return Finding(
            "sandbox identity",
            "warn",
            f"uid {identity.uid} is in use here ({'; '.join(conflicts)}): set "
            "MEDGRADE_SANDBOX_UID to a number no account uses",
        )
    who = (
        f"uid {identity.uid}, gid {identity.gid} (unused here)"
        if os.geteuid() == 0
        else f"docker: uid {identity.uid}; bwrap: this user (uid {os.geteuid()})"
    )
    return Finding("sandbox identity", "ok", who)


def _docker() -> list[Finding]:
    try:
        client = _client()
    except SandboxUnavailableError as error:
        return [Finding("docker engine", "missing", str(error))]
    info = client.info()
    findings = [
        Finding(
            "docker engine", "ok", f"{client.version().get('Version')} at {client.api.base_url}"
        )
    ]
    runtimes = sorted(info.get("Runtimes") or {})
    if "nvidia" in runtimes:
        findings.append(Finding("docker GPU runtime", "ok", "nvidia"))
    else:
        findings.append(Finding("docker GPU runtime", "warn", NO_NVIDIA_RUNTIME))
    name = os.environ.get("MEDGRADE_DOCKER_IMAGE", DEFAULT_IMAGE)
    try:
        image = client.images.get(name)
    except Exception:
        findings.append(
            Finding("grading image", "missing", f"{name} not built: run 'medgrade image build'")
        )
        return findings
    findings.append(Finding("grading image", "ok", f"{name} {image.id[:19]}"))
    return findings


def _bwrap() -> Finding:
    reason = BubblewrapBackend.unavailable_reason()
    if reason is not None:
        return Finding("bubblewrap", "missing", reason)
    return Finding("bubblewrap", "ok", shutil.which("bwrap") or "bwrap")


def _notebooks() -> Finding:
    # bubblewrap and local runs use this environment's Python; Docker runs use the image's.
    missing = [name for name in ("nbclient", "ipykernel") if importlib.util.find_spec(name) is None]
    if missing:
        return Finding(
            "notebook submissions", "missing", f"{', '.join(missing)} not installed here"
        )
    return Finding("notebook submissions", "ok", "nbclient and ipykernel installed")


def _environments() -> list[Finding]:
    """Whether the bundled tasks' grading environments are built here, per backend."""
    from grader.environment import task_runtime
    from grader.tasks import load_task, task_ids

    findings = []
    seen: set[str] = set()
    for task_id in task_ids():
        try:
            runtime = task_runtime(load_task(task_id))
        except MedgradeError as error:
            findings.append(Finding(f"environment of {task_id}", "missing", str(error)))
            continue
        declared = runtime.declared
        if declared is None or not declared.locked or declared.digest in seen:
            continue
        seen.add(declared.digest)
        tasks = f"{declared.lock.name} ({declared.digest})"
        built = [
            name
            for name, done in (("bwrap/local", runtime.venv_built), ("docker", runtime.image_built))
            if done
        ]
        if len(built) == 2:
            findings.append(
                Finding(f"environment {tasks}", "ok", "built for bwrap/local and docker")
            )
        else:
            findings.append(
                Finding(
                    f"environment {tasks}",
                    "warn",
                    (f"built for {built[0]} only" if built else "not built")
                    + f": run 'medgrade env build {task_id}'",
                )
            )
    return findings


def _pdf_export() -> Finding:
    if importlib.util.find_spec("playwright") is None:
        return Finding("export --to pdf", "warn", 'needs Playwright: pip install "medgrade[pdf]"')
    from grader.report import find_chromium

    browser = find_chromium()
    if browser is None:
        return Finding(
            "export --to pdf", "warn", "Playwright's own Chromium, else: apt-get install chromium"
        )
    return Finding("export --to pdf", "ok", f"prints with {browser}")


def _cgroups() -> Finding:
    version = cgroup_version()
    if version is None:
        return Finding(
            "cgroups", "warn", "none found: memory, pids and CPU limits fall back to rlimits"
        )
    if os.geteuid() != 0:
        return Finding("cgroups", "warn", f"v{version}, but not root: bwrap runs use rlimits only")
    return Finding(
        "cgroups", "ok", f"v{version}, writable (bwrap runs get memory, pids and CPU limits)"
    )
