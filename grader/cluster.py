"""Grading on a Dask cluster: each submission's sandbox run happens on a Dask worker.

The marker's machine keeps the store, the reports and the gradebooks; a worker receives a
submission's bytes, runs it in its own sandbox on its own copy of the task's inputs, and
sends back the evaluation as the store's JSON document (evaluations hold read-only
mappings that pickle cannot carry).  Workers need medgrade, the task and its dataset (the
same ``--data-dir``/``MEDGRADE_DATA`` layout) and a sandbox; the hidden labels stay on the
worker's host side like on the marker's machine, never in a sandbox.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from grader.backend_stack import open_backend_stack
from grader.errors import MedgradeError
from grader.evaluation import Evaluation, PreparedSplit, evaluate, prepare_split
from grader.store import decode_evaluation, encode_evaluation
from grader.submission import IGNORED_NAMES, Submission
from grader.tasks import Task, load_task
from sandbox import GpuSelection, SandboxBackend

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker needs to grade like the marker's machine would."""

    task: str  # a bundled task's id, or a task folder every worker can read
    data_dir: str | None
    backend: str
    unsafe_local: bool
    warm_pool: bool = True
    #: The GPUs each worker's sandboxes may use (of that worker's machine), for a GPU task.
    gpus: GpuSelection | None = None


def connect(cluster: str | Client) -> tuple[Client, bool]:
    """A client for ``cluster`` (a scheduler address or a client); whether we opened it."""
    try:
        from distributed import Client
    except ImportError:
        raise MedgradeError(
            "grading on a Dask cluster needs dask.distributed: pip install 'medgrade[cluster]'"
        ) from None
    if isinstance(cluster, Client):
        return cluster, False
    try:
        # How long to wait for the scheduler: Dask's own setting
        # (distributed.comm.timeouts.connect, 30 s unless configured).
        return Client(cluster), True
    except (OSError, TimeoutError) as error:
        raise MedgradeError(f"no Dask scheduler answers at {cluster}: {error}") from None


def worker_slots(client: Client) -> int:
    """How many submissions the cluster runs at once: one per worker thread."""
    return max(1, sum(client.nthreads().values()))


def task_reference(task: Task) -> str:
    """The task's id when it is one medgrade bundles, else its folder."""
    try:
        if load_task(task.id).folder == task.folder:
            return task.id
    except MedgradeError:
        pass
    return str(task.folder)


def pack_submission(path: Path) -> tuple[str, bytes]:
    """A submission as (file name, bytes): a folder travels as a zip of its files."""
    if not path.is_dir():
        return path.name, path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, directories, files in os.walk(path, followlinks=False):
            directories[:] = sorted(d for d in directories if d not in IGNORED_NAMES)
            for name in sorted(files):
                if name not in IGNORED_NAMES:
                    file = Path(root) / name
                    archive.write(file, file.relative_to(path).as_posix())
    return f"{path.name}.zip", buffer.getvalue()


def evaluate_remotely(
    client: Client,
    setup: WorkerSetup,
    submission: Submission,
    repeat_predict: bool = False,
) -> Evaluation:
    """Grade ``submission`` on a worker of ``client`` and wait for its evaluation."""
    name, blob = pack_submission(submission.path)
    future = client.submit(
        _evaluate_on_worker,
        setup,
        submission.student_id,
        name,
        blob,
        repeat_predict,
        pure=False,  # the same submission graded twice is two runs
    )
    document, notebook = future.result()
    evaluation = decode_evaluation(document)
    # The worker saw a copy; the store and reports name the marker's own file.
    return replace(evaluation, submission_path=str(submission.path), executed_notebook=notebook)


# --- On the worker ----------------------------------------------------------------------------

_state_lock = threading.Lock()
_worker_state: dict[WorkerSetup, tuple[PreparedSplit, SandboxBackend, Path]] = {}


def _prepared(setup: WorkerSetup) -> tuple[PreparedSplit, SandboxBackend, Path]:
    """The worker's copy of the test inputs and its sandbox, made once per process."""
    with _state_lock:
        if setup not in _worker_state:
            workdir = Path(tempfile.mkdtemp(prefix="medgrade-worker-"))
            atexit.register(shutil.rmtree, workdir, ignore_errors=True)
            task = load_task(setup.task)
            data_dir = Path(setup.data_dir) if setup.data_dir else None
            prepared = prepare_split(task, "test", data_dir=data_dir, workdir=workdir)
            # Each worker's own build of the task's environment (the report says where a
            # worker has none).
            backend = open_backend_stack(
                task,
                setup.backend,
                purpose="grade",
                unsafe_local=setup.unsafe_local,
                gpus=setup.gpus,
                warm_root=workdir if setup.warm_pool else None,
            ).backend
            atexit.register(backend.close)
            _worker_state[setup] = (prepared, backend, workdir)
        return _worker_state[setup]


def _evaluate_on_worker(
    setup: WorkerSetup,
    student_id: str,
    name: str,
    blob: bytes,
    repeat_predict: bool,
) -> tuple[str, str | None]:
    prepared, backend, workdir = _prepared(setup)
    with tempfile.TemporaryDirectory(prefix="medgrade-submission-", dir=workdir) as scratch:
        path = Path(scratch) / name
        path.write_bytes(blob)
        evaluation = evaluate(
            path,
            student_id=student_id,
            prepared=prepared,
            backend=backend,
            workdir=Path(scratch),
            repeat_predict=repeat_predict,
        )
    return encode_evaluation(evaluation), evaluation.executed_notebook
