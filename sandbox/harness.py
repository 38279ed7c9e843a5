"""medgrade's in-sandbox harness: what the worker process does with a submission.

Runs inside every backend, so it uses only the standard library and numpy (plus nbformat,
nbclient and ipykernel for notebook submissions), and it imports nothing from medgrade.
The supervisor (:mod:`supervisor`, the sandbox's entry point) forks a worker that calls
:func:`work`: it reads the inputs from a read-only folder, imports the submission, calls
``load_model(artifacts_dir)`` and then ``predict(model, inputs)`` (in batches when the
task says so), writes the predictions into the sandbox's scratch output folder and returns
its record.  ``predictions.npy`` keeps the shape predict returned, one row per case:
``(n,)`` for a binary task, ``(n, n_classes)`` for class probabilities; the grader checks
the rest.  For volume inputs ``inputs`` is a list of ``{"image", "spacing_mm"}`` dicts,
and each case's label map is written as ``label_maps/<case>.npy``.  Everything here runs
beside the submission's code, so nothing it writes or says is trusted by the grader.

A notebook submission runs top to bottom in a Jupyter kernel (nbclient), except cells
tagged ``skip-grading``; then the same ``load_model``/``predict`` calls run in that
kernel.  The executed notebook is written to the output folder as ``notebook.ipynb``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import math
import os
import platform
import re
import resource
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

if __package__:  # imported as sandbox.harness by the grader
    from sandbox import wire
else:  # loaded by path by the supervisor, in a sandbox
    wire = sys.modules["medgrade_wire"]

RECORD_FORMAT = 1
ENTRY_FILE = "predict.py"
NOTEBOOK_SUFFIX = ".ipynb"
#: Cells with this tag (training loops, plots of the training curves) never run at grading.
SKIP_TAG = "skip-grading"
MAX_MESSAGE = 2000
MAX_TRACEBACK = 6000
MAX_RECORDED_CELLS = 300
#: The grader reads a notebook on the host before any sandbox starts: these bound its work.
MAX_NOTEBOOK_BYTES = 32 * 2**20
MAX_NOTEBOOK_CELLS = 2000
#: Outputs kept in the executed notebook: per cell, and for the whole notebook.
MAX_CELL_OUTPUT_BYTES = 2 * 2**20
MAX_EXECUTED_OUTPUT_BYTES = 16 * 2**20
_RESULT_MIME = "application/vnd.medgrade.result+json"
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class SubmissionFailure(Exception):
    """A failure attributable to the submission, with the kind the grader reports."""

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.detail = detail

    def to_record(self) -> dict[str, str]:
        """The failure as the run record carries it (bounded, valid UTF-8)."""
        return {
            "kind": self.kind,
            "message": _printable(self.message)[:MAX_MESSAGE],
            "detail": _printable(self.detail)[-MAX_TRACEBACK:],
        }


def work(
    *,
    submission: str,
    inputs: str,
    output: str,
    rlimits: dict[str, int],
    notebook_limits: dict[str, float],
) -> dict[str, Any]:
    """Run the submission in ``submission`` on ``inputs``, writing its predictions into
    ``output``; return the run's record (status, failure, timings, environment)."""
    _apply_rlimits(rlimits)
    started = time.perf_counter()
    record: dict[str, Any] = {"format": RECORD_FORMAT, "timings": {}}
    try:
        _run(Path(submission), Path(inputs), Path(output), record, notebook_limits)
        record["status"] = "completed"
        record["failure"] = None
    except SubmissionFailure as failure:
        record["status"] = "failed"
        record["failure"] = failure.to_record()
    record["timings"]["total_s"] = round(time.perf_counter() - started, 4)
    record["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    record["environment"] = record.get("environment") or _environment()
    return record


def _apply_rlimits(limits: dict[str, int]) -> None:
    mib = 1024 * 1024
    wanted = {
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_CPU: limits.get("cpu_s"),
        resource.RLIMIT_FSIZE: limits["fsize_mb"] * mib if "fsize_mb" in limits else None,
        resource.RLIMIT_NOFILE: limits.get("nofile"),
        resource.RLIMIT_AS: limits["as_mb"] * mib if "as_mb" in limits else None,
    }
    for which, value in wanted.items():
        if value is not None:
            resource.setrlimit(which, (value, value))


def _run(
    submission_dir: Path,
    input_dir: Path,
    output_dir: Path,
    record: dict[str, Any],
    notebook_limits: dict[str, float],
) -> None:
    entry = find_entry(submission_dir)
    if entry.suffix.lower() == NOTEBOOK_SUFFIX:
        _run_notebook(entry, submission_dir, input_dir, output_dir, record, notebook_limits)
        return
    started = time.perf_counter()
    module = _import_submission(entry)
    namespace = vars(module)
    record["timings"]["import_s"] = round(time.perf_counter() - started, 4)
    _predict_and_save(namespace, ENTRY_FILE, submission_dir, input_dir, output_dir, record)


def find_entry(submission_dir: Path) -> Path:
    """The file that defines the submission: ``predict.py``, else its one notebook."""
    script = submission_dir / ENTRY_FILE
    if script.is_file():
        return script
    notebooks = sorted(
        p for p in submission_dir.iterdir() if p.suffix.lower() == NOTEBOOK_SUFFIX and p.is_file()
    )
    if len(notebooks) == 1:
        return notebooks[0]
    if notebooks:
        raise SubmissionFailure(
            "contract_error",
            f"the submission has {len(notebooks)} notebooks ({', '.join(p.name for p in notebooks)})"
            f" and no {ENTRY_FILE}: keep the one that defines load_model and predict",
        )
    found = sorted(p.name for p in submission_dir.iterdir())[:20]
    raise SubmissionFailure(
        "contract_error",
        f"the submission has no {ENTRY_FILE} and no notebook; one of them must define "
        "load_model(artifacts_dir) and predict(model, inputs). Files found: "
        f"{', '.join(found) or 'none'}",
    )


def _predict_and_save(
    namespace: dict[str, Any],
    defined_in: str,
    submission_dir: Path,
    input_dir: Path,
    output_dir: Path,
    record: dict[str, Any],
) -> None:
    manifest = json.loads((input_dir / "manifest.json").read_text())
    volumes = manifest["input"]["kind"] == "volume"
    inputs = (_read_volumes if volumes else _read_array)(input_dir / manifest["input"]["file"])
    timings = record["timings"]
    load_model = _entry_point(namespace, defined_in, "load_model", ("artifacts_dir",))
    predict = _entry_point(namespace, defined_in, "predict", ("model", "inputs"))

    started = time.perf_counter()
    model = _call_submission("load_model", load_model, str(submission_dir))
    timings["load_model_s"] = round(time.perf_counter() - started, 4)

    started = time.perf_counter()
    batch_size = manifest.get("batch_size") or len(inputs)
    batches = []
    for first in range(0, len(inputs), batch_size):
        batch = inputs[first : first + batch_size]
        result = _call_submission("predict", predict, model, batch)
        if volumes:
            batches.append(_as_label_maps(result, batch, first))
        else:
            batches.append(_as_array(result, len(batch)))
    timings["predict_s"] = round(time.perf_counter() - started, 4)
    record["n_cases"] = len(inputs)
    record["batch_size"] = batch_size
    if volumes:
        folder = output_dir / wire.LABEL_MAPS_DIR
        folder.mkdir(exist_ok=True)
        for position, label_map in enumerate(m for batch in batches for m in batch):
            _save_predictions(folder / f"{position:05d}.npy", label_map)
    else:
        predictions = batches[0] if len(batches) == 1 else _concatenate(batches)
        _save_predictions(output_dir / wire.PREDICTIONS, predictions)


def _read_array(path: Path) -> Any:
    import numpy as np

    return np.load(path, allow_pickle=False)


def _read_volumes(path: Path) -> list[dict[str, Any]]:
    """The cases of a volume archive (medgrade's ``save_volume_archive`` layout)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as archive:
        spacings = archive["spacings_mm"]
        return [
            {"image": archive[f"image_{i:05d}"], "spacing_mm": tuple(float(s) for s in spacing)}
            for i, spacing in enumerate(spacings)
        ]


def _as_label_maps(result: Any, batch: list[dict[str, Any]], first: int) -> list[Any]:
    """One label map per case of ``batch``, each of its image's shape; values are checked
    by the grader, which knows the structures."""
    if hasattr(result, "detach") or not isinstance(result, list | tuple):
        try:
            result = list(result)
        except TypeError:
            raise SubmissionFailure(
                "invalid_output",
                f"predict must return a list of label maps, one per case; it returned a "
                f"{type(result).__name__}",
            ) from None
    if len(result) != len(batch):
        raise SubmissionFailure(
            "wrong_shape",
            f"predict returned {len(result)} label maps for a batch of {len(batch)} cases; it "
            "must return one per case, in the order of the inputs",
        )
    label_maps = []
    for offset, (label_map, case) in enumerate(zip(result, batch, strict=True)):
        array = _numbers(label_map, f"predict, for case {first + offset},", "an integer label map")
        if array.shape != case["image"].shape:
            raise SubmissionFailure(
                "wrong_shape",
                f"the label map of case {first + offset} has shape {array.shape}; its image "
                f"has shape {case['image'].shape}, and the two must match voxel for voxel",
            )
        label_maps.append(array)
    return label_maps


def _import_submission(entry: Path) -> ModuleType:
    submission_dir = entry.parent
    # The submission may import its own helper modules that sit beside predict.py.
    sys.path.insert(0, str(submission_dir))
    spec = importlib.util.spec_from_file_location("submission_predict", entry)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission_predict"] = module
    _call_submission(f"importing {ENTRY_FILE}", spec.loader.exec_module, module)
    return module


def read_notebook(path: Path) -> Any:
    """Parse and validate a notebook with nbformat; only version 4 notebooks are run.

    The outputs saved with it are dropped before anything else: grading runs the cells
    again, and validating hundreds of thousands of saved outputs costs minutes.
    """
    import nbformat

    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise SubmissionFailure(
            "invalid_submission",
            f"{path.name} is {size // 2**20} MiB; notebooks of at most "
            f"{MAX_NOTEBOOK_BYTES // 2**20} MiB are run (clear its outputs and save it again)",
        )
    try:
        with path.open(encoding="utf-8") as handle:
            document = json.loads(handle.read(MAX_NOTEBOOK_BYTES + 1))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise SubmissionFailure(
            "invalid_submission", f"{path.name} is not a readable notebook (not JSON: {error})"
        ) from None
    version = document.get("nbformat") if isinstance(document, dict) else None
    if version != 4:
        raise SubmissionFailure(
            "invalid_submission",
            f"{path.name} is a version {version} notebook; medgrade runs version 4 notebooks "
            "(open and save it in a current Jupyter)",
        )
    cells = document.get("cells")
    if isinstance(cells, list) and len(cells) > MAX_NOTEBOOK_CELLS:
        raise SubmissionFailure(
            "invalid_submission",
            f"{path.name} has {len(cells)} cells; notebooks of at most {MAX_NOTEBOOK_CELLS} "
            "cells are run",
        )
    for cell in cells if isinstance(cells, list) else ():
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    try:
        notebook = nbformat.reads(json.dumps(document), as_version=4)  # joins multi-line sources
        nbformat.validate(notebook)
        for cell in notebook.cells:
            cell.source.encode("utf-8")  # a lone surrogate cannot reach the kernel
    except Exception as error:  # ValidationError, UnicodeEncodeError, RecursionError...
        message = getattr(error, "message", None) or str(error)
        raise SubmissionFailure(
            "invalid_submission",
            f"{path.name} is not a valid notebook: {_printable(message).splitlines()[0][:300]}",
        ) from None
    language = notebook.metadata.get("kernelspec", {}).get("language") or notebook.metadata.get(
        "language_info", {}
    ).get("name", "python")
    if str(language).lower() != "python":
        raise SubmissionFailure(
            "invalid_submission",
            f"{path.name} is a {_printable(str(language))[:40]} notebook; this task runs Python "
            "notebooks",
        )
    return notebook


def first_line(source: str, width: int = 60) -> str:
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    first = _printable(lines[0] if lines else "")
    return first if len(first) <= width else first[: width - 3] + "..."


def describe_cell(position: int, source: str, tags: list[str]) -> str:
    """How a failure message names a cell: its position, first line and tags."""
    tagged = f", tags {', '.join(tags)}" if tags else ""
    return f"cell {position} ({first_line(source)!r}{tagged})"


def _cell_tags(cell: Any) -> list[str]:
    tags = cell.metadata.get("tags", [])
    return [_printable(str(tag))[:100] for tag in tags[:10]] if isinstance(tags, list) else []


# Run in the kernel before the student's cells: ``from grader import check`` cells are
# part of a student's notebook, and the self-check must not run again inside the grading.
_SELF_CHECK_STUB = """\
import sys as _medgrade_sys, types as _medgrade_types
_medgrade_stub = _medgrade_types.ModuleType("grader")
_medgrade_stub.check = lambda *args, **kwargs: print("medgrade: self-check skipped while grading")
_medgrade_sys.modules["grader"] = _medgrade_stub
del _medgrade_sys, _medgrade_types, _medgrade_stub
"""

# The supervisor's module loads this one and the wire module by path, as in the sandbox.
_PREDICT_IN_KERNEL = """\
import importlib.util as _medgrade_util
_medgrade_spec = _medgrade_util.spec_from_file_location("medgrade_supervisor", {supervisor!r})
_medgrade_supervisor = _medgrade_util.module_from_spec(_medgrade_spec)
_medgrade_spec.loader.exec_module(_medgrade_supervisor)
_medgrade_supervisor.harness.predict_in_kernel(
    globals(), {entry!r}, {submission!r}, {inputs!r}, {output!r}
)
del _medgrade_util, _medgrade_spec, _medgrade_supervisor
"""


def _run_notebook(
    entry: Path,
    submission_dir: Path,
    input_dir: Path,
    output_dir: Path,
    record: dict[str, Any],
    limits: dict[str, float],
) -> None:
    started = time.perf_counter()
    notebook = read_notebook(entry)
    try:
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    except ImportError as error:
        # Said as a crash: only the host's own observations make a sandbox_error, never a
        # claim from inside the sandbox, where the submission could make the same one.
        raise SubmissionFailure(
            "crashed",
            f"this sandbox cannot run notebooks ({error}); the grading environment needs "
            "nbclient and ipykernel (medgrade image build installs them): tell the course staff",
        ) from None
    # Every code cell starts as "not run"; the loop below updates the ones it reaches.
    code_cells = [
        (position, cell)
        for position, cell in enumerate(notebook.cells, start=1)
        if cell.cell_type == "code" and cell.source.strip()
    ]
    cells = [
        {
            "cell": position,
            "first_line": first_line(cell.source, width=120),
            "tags": _cell_tags(cell),
            "status": "skipped" if SKIP_TAG in _cell_tags(cell) else "not run",
            "seconds": 0.0,
        }
        for position, cell in code_cells
    ]
    kernel = notebook.metadata.get("kernelspec", {}).get("name", "")
    record["notebook"] = {
        "file": _printable(entry.name)[:300],
        "kernel": _printable(str(kernel))[:100],
        "cells": cells[:MAX_RECORDED_CELLS],
    }
    timings = record["timings"]
    scratch = Path(os.environ.get("TMPDIR", "/tmp"))
    for variable, folder in (
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "matplotlib"),
    ):
        os.environ[variable] = str(scratch / folder)
    os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    total_s = float(limits.get("total_s", 3600))
    cell_s = float(limits.get("cell_s", total_s))
    # load_model and predict must end before the backend's hard kill, so that the run
    # still leaves its record and notebook.
    wall_deadline = time.monotonic() + float(limits.get("wall_s", 2 * total_s)) - 1.5
    client = NotebookClient(
        notebook,
        # The sandbox's own Python, whatever the notebook was saved with; over local IPC
        # sockets in the scratch folder rather than TCP on the loopback device.
        km=AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(scratch / "kernel")),
        kernel_name="python3",
        timeout=None,
        startup_timeout=120,
        shutdown_kernel="immediate",
        skip_cells_with_tag=SKIP_TAG,
        force_raise_errors=True,  # a cell tagged raises-exception fails like any other
        resources={"metadata": {"path": str(submission_dir)}},
    )
    deadline = time.monotonic() + total_s  # the kernel's start-up counts too
    try:
        with client.setup_kernel():
            _execute_extra_cell(client, notebook, _SELF_CHECK_STUB)
            timings["kernel_start_s"] = round(time.perf_counter() - started, 4)
            cells_started = time.perf_counter()
            for (position, cell), cell_record in zip(code_cells, cells, strict=True):
                if cell_record["status"] == "skipped":
                    continue
                named = describe_cell(position, cell.source, cell_record["tags"])
                remaining = deadline - time.monotonic()
                if min(cell_s, remaining) < 0.5:
                    raise SubmissionFailure(
                        "timeout",
                        f"the notebook used up its {total_s:g} s for running cells before "
                        f"{named}; tag training cells {SKIP_TAG!r}",
                    )
                client.timeout = max(1, math.floor(min(cell_s, remaining)))
                which = "per-cell" if cell_s <= remaining else "whole-notebook"
                limit = cell_s if which == "per-cell" else total_s
                cell_started = time.perf_counter()
                cell_record["status"] = "ran"
                try:
                    client.execute_cell(cell, position - 1)
                except CellTimeoutError:
                    cell_record["status"] = "timed out"
                    raise SubmissionFailure(
                        "timeout",
                        f"{named} did not finish within the {which} limit of {limit:g} s; tag "
                        f"training cells {SKIP_TAG!r} so that grading skips them",
                    ) from None
                except DeadKernelError:
                    cell_record["status"] = "kernel died"
                    raise SubmissionFailure(
                        "crashed",
                        f"the kernel died while running {named} (a crash, os._exit() or "
                        "running out of memory)",
                    ) from None
                except CellExecutionError as error:
                    cell_record["status"] = "error"
                    raise SubmissionFailure(
                        "out_of_memory"
                        if _is_out_of_memory_text(error.ename, error.evalue)
                        else "crashed",
                        f"{named} raised {error.ename}: {error.evalue}",
                        _ANSI_ESCAPE.sub("", error.traceback),
                    ) from None
                finally:
                    cell_record["seconds"] = round(time.perf_counter() - cell_started, 4)
            timings["cells_s"] = round(time.perf_counter() - cells_started, 4)
            _call_in_kernel(
                client, notebook, entry, submission_dir, input_dir, output_dir, record,
                timeout_s=wall_deadline - time.monotonic(),
            )  # fmt: skip
    except SubmissionFailure:
        raise
    except CellTimeoutError:
        raise SubmissionFailure(
            "timeout", "load_model and predict did not finish within the task's wall time"
        ) from None
    except DeadKernelError:
        raise SubmissionFailure(
            "crashed", "the kernel died while load_model or predict ran (a crash or os._exit())"
        ) from None
    except Exception as error:  # the kernel did not start, or nbclient failed
        raise SubmissionFailure(
            "crashed",
            f"the notebook kernel failed: {type(error).__name__}: "
            f"{_ANSI_ESCAPE.sub('', str(error))} (if every notebook fails so, tell the course "
            "staff)",
        ) from None
    finally:
        _mark_cells(code_cells, cells)
        _save_executed_notebook(notebook, output_dir / wire.EXECUTED_NOTEBOOK)


def _call_in_kernel(
    client: Any,
    notebook: Any,
    entry: Path,
    submission_dir: Path,
    input_dir: Path,
    output_dir: Path,
    record: dict[str, Any],
    *,
    timeout_s: float,
) -> None:
    """Run load_model and predict in the notebook's kernel, where the functions live."""
    code = _PREDICT_IN_KERNEL.format(
        supervisor=os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervisor.py"),
        entry=entry.name,
        submission=str(submission_dir),
        inputs=str(input_dir),
        output=str(output_dir),
    )
    client.timeout = max(1, math.floor(timeout_s))
    cell = _execute_extra_cell(client, notebook, code)
    results = [
        output["data"][_RESULT_MIME]
        for output in cell.outputs
        if output.get("output_type") == "display_data" and _RESULT_MIME in output.get("data", {})
    ]
    if len(results) != 1 or not isinstance(results[0], dict):
        raise SubmissionFailure(
            "crashed", "load_model and predict did not report back from the notebook's kernel"
        )
    result = results[0]
    record["timings"].update(result.get("timings", {}))
    for key in ("n_cases", "batch_size", "environment"):
        if key in result:
            record[key] = result[key]
    import nbclient

    record["environment"]["versions"]["nbclient"] = nbclient.__version__
    failure = result.get("failure")
    if failure:
        raise SubmissionFailure(failure["kind"], failure["message"], failure.get("detail", ""))


def _mark_cells(code_cells: list[tuple[int, Any]], cells: list[dict[str, Any]]) -> None:
    """Say in the notebook what grading did with each cell; outputs saved on the student's
    machine never pass for outputs at grading time."""
    budget = MAX_EXECUTED_OUTPUT_BYTES
    for (_, cell), cell_record in zip(code_cells, cells, strict=True):
        status = cell_record["status"]
        cell.metadata["medgrade"] = {"status": status}
        if status in ("skipped", "not run"):
            why = f"tagged {SKIP_TAG}" if status == "skipped" else "an earlier cell failed"
            cell.outputs = [_note(f"[medgrade] not run at grading ({why})")]
            cell.execution_count = None
            continue
        size = len(json.dumps(cell.outputs, default=str))
        if size > min(MAX_CELL_OUTPUT_BYTES, budget):
            cell.outputs = [_note(f"[medgrade] {size // 1024} KiB of output left out")]
            size = 0
        budget -= size


def _note(text: str) -> Any:
    import nbformat

    return nbformat.v4.new_output("stream", name="stderr", text=text + "\n")


def _execute_extra_cell(client: Any, notebook: Any, code: str) -> Any:
    """Run medgrade's own code in the kernel; the cell is not left in the notebook."""
    import nbformat

    cell = nbformat.v4.new_code_cell(code)
    notebook.cells.append(cell)  # nbclient stores the executed cell back at its index
    try:
        client.execute_cell(cell, len(notebook.cells) - 1, store_history=False)
    finally:
        notebook.cells.pop()
    return cell


def predict_in_kernel(
    namespace: dict[str, Any], entry: str, submission: str, inputs: str, output: str
) -> None:
    """Inside the notebook's kernel: call the notebook's functions and report back."""
    from IPython.display import display

    result: dict[str, Any] = {"timings": {}}
    try:
        try:
            _predict_and_save(
                namespace, entry, Path(submission), Path(inputs), Path(output), result
            )
        except SubmissionFailure:
            raise
        except BaseException:  # reading the inputs, say: sorted as a call would be
            _call_submission("load_model and predict", _reraise)
    except SubmissionFailure as failure:
        result["failure"] = failure.to_record()
    result["environment"] = _environment()
    display({_RESULT_MIME: result}, raw=True)


def _reraise() -> None:
    raise  # the exception being handled, so that _call_submission sorts it


def _save_executed_notebook(notebook: Any, path: Path) -> None:
    import nbformat

    try:
        with os.fdopen(_new_file(path.with_suffix(".tmp")), "w", encoding="utf-8") as handle:
            nbformat.write(notebook, handle)
        os.replace(path.with_suffix(".tmp"), path)
    except (OSError, ValueError):
        pass  # outputs too large for the sandbox's file limit: the run record still stands


def _entry_point(
    namespace: dict[str, Any], defined_in: str, name: str, parameters: tuple[str, ...]
) -> Any:
    function = namespace.get(name)
    wanted = f"{name}({', '.join(parameters)})"
    if function is None:
        raise SubmissionFailure("contract_error", f"{defined_in} does not define {wanted}")
    if not callable(function):
        raise SubmissionFailure(
            "contract_error",
            f"{name} in {defined_in} must be a function {wanted}, not a {type(function).__name__}",
        )
    try:
        inspect.signature(function).bind(*parameters)
    except TypeError:
        raise SubmissionFailure(
            "contract_error",
            f"{name} must accept {len(parameters)} positional argument(s): {wanted}; yours is "
            f"{name}{inspect.signature(function)}",
        ) from None
    except ValueError:  # builtins without a signature: let the call decide
        pass
    return function


def _call_submission(what: str, function: Any, *arguments: Any) -> Any:
    try:
        return function(*arguments)
    except MemoryError:
        raise SubmissionFailure(
            "out_of_memory",
            f"ran out of memory while {_gerund(what)} (MemoryError)",
            _student_traceback(),
        ) from None
    except SystemExit as exit_:
        raise SubmissionFailure(
            "crashed",
            f"the submission called sys.exit({exit_.code!r}) while {_gerund(what)}; "
            "predict must return its predictions instead of exiting",
            _student_traceback(),
        ) from None
    except BaseException as error:
        if _is_out_of_memory(error):
            kind, message = "out_of_memory", f"ran out of memory while {_gerund(what)}"
        else:
            kind, message = "crashed", f"{type(error).__name__} while {_gerund(what)}: {error}"
        raise SubmissionFailure(kind, message, _student_traceback()) from None


def _printable(text: str) -> str:
    """Text that survives JSON and UTF-8 (an error message may hold lone surrogates)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _gerund(what: str) -> str:
    return what if what.startswith("importing") else f"running {what}"


def _is_out_of_memory(error: BaseException) -> bool:
    return _is_out_of_memory_text(type(error).__name__, str(error))


def _is_out_of_memory_text(name: str, message: str) -> bool:
    if name.endswith("MemoryError"):
        return True
    text = f"{name}: {message}".lower()
    return any(
        marker in text
        for marker in (
            "outofmemoryerror",
            "out of memory",
            "can't allocate memory",
            "cannot allocate memory",
            "unable to allocate",
        )
    )


def _student_traceback() -> str:
    """The current traceback without the harness's own frames."""
    _, error, tb = sys.exc_info()
    assert error is not None
    here = os.path.abspath(__file__)
    frames = [f for f in traceback.extract_tb(tb) if os.path.abspath(f.filename) != here]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    return "Traceback (most recent call last):\n" + "".join(lines)


def _numbers(result: Any, what: str, expected: str) -> Any:
    """``result`` as a numeric numpy array (a torch tensor is accepted too); ``what`` names
    it in messages ("predict" or "the label map of case 3")."""
    import numpy as np

    try:
        if hasattr(result, "detach") and hasattr(result, "cpu"):  # a torch tensor: be forgiving
            tensor = result.detach().cpu()
            # numpy has no bfloat16: floats go through float32, integers keep their type.
            result = (tensor.float() if tensor.is_floating_point() else tensor).numpy()
        array = np.asarray(result)
    except MemoryError:
        raise SubmissionFailure(
            "out_of_memory", "ran out of memory converting the predictions"
        ) from None
    except Exception as error:
        raise SubmissionFailure(
            "invalid_output",
            f"{what} returned a {type(result).__name__} that is not convertible to a numpy "
            f"array ({error})",
        ) from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise SubmissionFailure(
            "invalid_output",
            f"{what} must return numbers ({expected}); it returned dtype {array.dtype} from a "
            f"{type(result).__name__}",
        )
    return array


def _as_array(result: Any, expected_rows: int) -> Any:
    array = _numbers(result, "predict", "a float numpy array")
    if array.ndim == 0 or len(array) != expected_rows:
        raise SubmissionFailure(
            "wrong_shape",
            f"predict returned shape {array.shape} for a batch of {expected_rows} cases; it must "
            "return one row per case, in the order of the inputs",
        )
    return array


def _concatenate(batches: list[Any]) -> Any:
    import numpy as np

    try:
        return np.concatenate(batches)
    except ValueError as error:
        shapes = sorted({tuple(b.shape[1:]) for b in batches})
        raise SubmissionFailure(
            "wrong_shape", f"predict returned differently shaped batches {shapes}: {error}"
        ) from None


def _save_predictions(path: Path, predictions: Any) -> None:
    import numpy as np

    try:
        with os.fdopen(_new_file(path.with_suffix(".tmp")), "wb") as handle:
            np.save(handle, np.ascontiguousarray(predictions), allow_pickle=False)
        os.replace(path.with_suffix(".tmp"), path)
    except MemoryError:
        raise SubmissionFailure(
            "out_of_memory", "ran out of memory saving the predictions"
        ) from None
    except (ValueError, OSError) as error:
        raise SubmissionFailure(
            "invalid_output", f"the predictions cannot be saved: {error}"
        ) from None


def _new_file(path: Path) -> int:
    """A file descriptor of a file created new at ``path``: whatever the submission left
    there (a link, a FIFO) is removed, never written through."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)


def _environment() -> dict[str, Any]:
    versions = {"python": platform.python_version()}
    for name in (
        "numpy", "scipy", "pandas", "torch", "torchvision", "sklearn", "monai", "ipykernel", "IPython"
    ):  # fmt: skip
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "unknown"))
    device: dict[str, Any] = {"kind": "cpu"}
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                device = {
                    "kind": "cuda",
                    "name": torch.cuda.get_device_name(0),
                    "count": torch.cuda.device_count(),
                }
        except Exception as error:
            device = {"kind": "cpu", "cuda_error": str(error)[:200]}
    return {"versions": versions, "device": device, "platform": platform.platform()}
