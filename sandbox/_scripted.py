"""The scripted backend: a stand-in that runs nothing, for testing what lies above the sandbox.

As httpx's ``MockTransport`` answers requests with a function, :class:`ScriptedBackend`
answers each :class:`~sandbox.SandboxJob` with ``handler(job)``, a :class:`ScriptedRun`:
what the run's supervisor would have reported.  The report still reaches the job's output
folder through the real wire (:func:`sandbox.wire.send_report` into
:func:`sandbox.wire.receive_report` over a socket pair), so the grader reads it exactly as
it reads a sandbox's.  Batches, stores, reports and LMS exports can then be tested without
starting a sandbox per submission; the real backends keep their own tests.

It is never registered under a name, so no command line or task can choose it: it has to
be handed to a journey in code.  It counts as isolating because it executes nothing of the
submission's.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from sandbox import wire
from sandbox._backend import SandboxJob, SandboxResult

#: What a completed run's supervisor reports when a script says nothing else.
_OBSERVED = {"exit_code": 0, "signal": None, "timed_out": False, "cpu_s": 0.1, "wall_s": 0.2}


def _npy(array: ArrayLike) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


@dataclass(frozen=True)
class ScriptedRun:
    """What one scripted run reports.

    ``record`` is the worker's record (None: the worker gave none, as when it was killed),
    ``files`` the report's files by their wire names (:data:`sandbox.wire.PREDICTIONS`...),
    ``observed`` what the supervisor saw (over :data:`_OBSERVED`'s completed run), and
    ``result`` fields of the :class:`~sandbox.SandboxResult` the host saw (``timed_out``,
    ``oom_killed``, ``started``...).  With ``report`` False no report arrives at all.
    """

    record: Mapping[str, Any] | None
    files: Mapping[str, bytes] = field(default_factory=dict)
    observed: Mapping[str, Any] = field(default_factory=dict)
    result: Mapping[str, Any] = field(default_factory=dict)
    report: bool = True

    @classmethod
    def predicted(
        cls,
        predictions: ArrayLike,
        *,
        cpu_time_s: float = 0.1,
        record: Mapping[str, Any] | None = None,
    ) -> ScriptedRun:
        """A completed run that predicted ``predictions`` (a row per case); ``record`` adds
        to the worker's record (its timings, a notebook's cells...)."""
        rows = np.asarray(predictions)
        return cls(
            record=_completed(len(rows)) | dict(record or {}),
            files={wire.PREDICTIONS: _npy(rows)},
            observed={"cpu_s": cpu_time_s},
        )

    @classmethod
    def per_case(cls, outputs: Sequence[ArrayLike], *, cpu_time_s: float = 0.1) -> ScriptedRun:
        """A completed run whose predict returned one array per case (a label map each)."""
        files = {
            f"{wire.PER_CASE_DIR}/{position:05d}.npy": _npy(output)
            for position, output in enumerate(outputs)
        }
        return cls(record=_completed(len(outputs)), files=files, observed={"cpu_s": cpu_time_s})

    @classmethod
    def failed(cls, kind: str, message: str, detail: str = "") -> ScriptedRun:
        """A run whose worker reported a failure of ``kind`` (``crashed``, ``wrong_shape``...)."""
        failure = {"kind": kind, "message": message, "detail": detail}
        return cls(record={"format": 1, "status": "failed", "failure": failure})

    @classmethod
    def from_output(cls, output_dir: Path, result: SandboxResult) -> ScriptedRun:
        """The run a real backend reported into ``output_dir``, to be reported again (a
        recording, replayed to later jobs with their own nonces)."""
        header = json.loads((output_dir / wire.RUN_RECORD).read_text())
        files = {name: (output_dir / name).read_bytes() for name in header["file_names"]}
        seen = {
            name: getattr(result, name)
            for name in ("exit_code", "signal", "timed_out", "oom_killed", "started")
        }
        seen |= {"stdout_tail": result.stdout_tail, "stderr_tail": result.stderr_tail}
        seen |= {"cpu_time_s": result.cpu_time_s, "peak_memory_mb": result.peak_memory_mb}
        return cls(header["record"], files, header["observed"], seen)


def _completed(n_cases: int) -> dict[str, Any]:
    return {"format": 1, "status": "completed", "failure": None, "n_cases": n_cases}


class ScriptedBackend:
    """Answers every job with ``handler(job)``; :attr:`jobs` lists the jobs it was given."""

    name = "scripted"
    isolating = True

    def __init__(self, handler: Callable[[SandboxJob], ScriptedRun]) -> None:
        self.handler = handler
        self.jobs: list[SandboxJob] = []
        self._lock = threading.Lock()

    def run(self, job: SandboxJob) -> SandboxResult:
        start = time.monotonic()
        with self._lock:
            self.jobs.append(job)
        scripted = self.handler(job)
        error = _deliver(scripted, job) if scripted.report else None
        seen: dict[str, Any] = {
            "exit_code": 0,
            "signal": None,
            "timed_out": False,
            "stdout_tail": "",
            "stderr_tail": "",
            "peak_memory_mb": None,
        } | dict(scripted.result)
        return SandboxResult(
            backend=self.name,
            wall_time_s=time.monotonic() - start,
            report_error=error,
            **seen,
        )

    def close(self) -> None:
        """Nothing runs, so nothing is left to stop."""


def _deliver(scripted: ScriptedRun, job: SandboxJob) -> str | None:
    """Send ``scripted``'s report to ``job``'s output folder through the wire; return why
    it could not be read, as a backend reports a broken channel."""
    header = {
        "nonce": job.nonce,
        "record": None if scripted.record is None else dict(scripted.record),
        "observed": _OBSERVED | dict(scripted.observed),
    }
    host, sandbox_side = socket.socketpair()
    with tempfile.TemporaryDirectory(prefix="medgrade-scripted-") as scratch, host, sandbox_side:
        files = []
        for name, data in scripted.files.items():
            path = Path(scratch) / name.replace("/", "_")
            path.write_bytes(data)
            files.append((name, path, len(data)))
        sender = threading.Thread(target=_send, args=(sandbox_side, header, files))
        sender.start()
        try:
            wire.receive_report(host, job.output_dir)
        except wire.ChannelError as error:
            host.shutdown(socket.SHUT_RDWR)  # the sender stops at its next write
            return str(error)
        finally:
            sender.join()
    return None


def _send(
    channel: socket.socket, header: dict[str, Any], files: list[tuple[str, Path, int]]
) -> None:
    # OSError: the host stopped reading, and has already said why.
    with contextlib.suppress(OSError):
        wire.send_report(channel, header, files)
