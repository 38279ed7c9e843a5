"""The ``local`` backend: a plain subprocess with rlimits and a wall-clock timeout.

It isolates nothing (the submission can read any file this user can); it exists for
development and for a student's self-check on their own machine.  It runs the same
supervisor and harness as the isolating backends, reporting over the same channel.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from sandbox._backend import (
    CODE_DIR,
    HOST_GRACE_S,
    SandboxJob,
    SandboxResult,
    register_backend,
    supervisor_arguments,
)
from sandbox._channel import ReportChannel
from sandbox._process import kill_live_groups, minimal_environment, run_process_group


class LocalBackend:
    name = "local"
    isolating = False

    def __init__(self, python: str | Path = sys.executable) -> None:
        self.python = str(python)

    def run(self, job: SandboxJob) -> SandboxResult:
        with tempfile.TemporaryDirectory(prefix="medgrade-scratch-") as scratch:
            output = Path(scratch) / "output"
            output.mkdir()
            channel = ReportChannel(job.output_dir, job.nonce)
            command = [
                self.python,
                "-I",
                "-B",
                str(CODE_DIR / "supervisor.py"),
                *supervisor_arguments(
                    job,
                    channel=channel.sandbox_fd,
                    submission_dir=job.submission_dir,
                    input_dir=job.input_dir,
                    output_dir=output,
                ),
            ]
            channel.start()
            try:
                result = run_process_group(
                    command,
                    env=minimal_environment(home=Path(scratch), cpus=job.limits.cpus),
                    cwd=Path(scratch),
                    timeout_s=job.limits.wall_time_s + HOST_GRACE_S,
                    max_log_bytes=job.limits.max_log_bytes,
                    backend=self.name,
                    pass_fds=(channel.sandbox_fd,),
                    started=channel.handed_over,
                )
            finally:
                channel.finish()
        return replace(
            result,
            report_error=channel.error,
            started=channel.started,
            details={"python": self.python},
        )

    def close(self) -> None:
        """Kill every run still going (the grader is being stopped)."""
        kill_live_groups()


register_backend("local", LocalBackend)
