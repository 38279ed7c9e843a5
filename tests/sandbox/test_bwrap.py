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
    (folders["submission"] / "predict.py").write_text("import sys\nprint('PREFIX', sys.prefix)\n")
    job = SandboxJob(
        submission_dir=folders["submission"],
        input_dir=folders["inputs"],
        output_dir=folders["output"],
        limits=SandboxLimits(wall_time_s=30, memory_mb=512),
        nonce="0" * 32,
    )
    backend = BubblewrapBackend(python=python)
    result = backend.run(job)
    backend.close()
    assert f"PREFIX {venv}" in result.stdout_tail, result.stderr_tail
