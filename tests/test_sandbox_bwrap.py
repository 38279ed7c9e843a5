"""bubblewrap specifics that the shared adversarial battery does not reach."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import BubblewrapBackend, SandboxJob, SandboxLimits

pytestmark = pytest.mark.skipif(
    BubblewrapBackend.unavailable_reason() is not None,
    reason=f"bubblewrap unavailable: {BubblewrapBackend.unavailable_reason()}",
)


def test_a_python_environment_under_tmp_stays_visible_inside(tmp_path: Path) -> None:
    # CI keeps its virtual environment in /tmp, where the sandbox mounts its scratch tmpfs.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    folders = {name: tmp_path / name for name in ("submission", "inputs", "output")}
    for folder in folders.values():
        folder.mkdir()
    job = SandboxJob(
        submission_dir=folders["submission"],
        input_dir=folders["inputs"],
        output_dir=folders["output"],
        limits=SandboxLimits(wall_time_s=30, memory_mb=512),
        nonce="unused",
    )
    backend = BubblewrapBackend(python=python)
    inside = [str(python), "-I", "-c", "import sys; print(sys.prefix)"]
    done = subprocess.run(
        [backend.executable, *backend.arguments(job), *inside], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(venv)
