"""medgrade's in-sandbox harness: what the worker process does with a submission.

Runs inside every backend, so it uses only the standard library and numpy (plus nbformat,
nbclient and ipykernel for notebook submissions), and it imports nothing from medgrade.
The supervisor (:mod:`supervisor`, the sandbox's entry point) forks a worker that calls
:func:`work`: it reads the inputs from a read-only folder, imports the submission, calls
``load_model(artifacts_dir)`` and then ``predict(model, inputs)`` (in batches when the
task says so), writes the predictions into the sandbox's scratch output folder and returns
its record.  It knows no task kind, only the wire layouts the split's manifest names
(:data:`wire.INPUT_LAYOUTS`, :data:`wire.OUTPUT_LAYOUTS`): ``rows`` predictions keep the
shape predict returned, one row per case (``(n,)`` for a binary task, ``(n, n_classes)``
for class probabilities); ``per_case`` outputs (a segmentation's label maps) are written
one file per case, each checked against the shape of its case's input.  The grader checks
the rest.  Everything here runs beside the submission's code, so nothing it writes or says
is trusted by the grader.

A notebook submission runs top to bottom in a Jupyter kernel (nbclient), except cells
tagged ``skip-grading``; then the same ``load_model``/``predict`` calls run in that
kernel.  The executed notebook is written to the output folder as ``notebook.ipynb``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

if __package__:  # imported as sandbox.harness by the grader
    from sandbox import startup, wire
else:  # loaded by path by the supervisor, in a sandbox
    startup = sys.modules["medgrade_startup"]
    wire = sys.modules["medgrade_wire"]

RECORD_FORMAT = 1
ENTRY_FILE = "predict.py"
NOTEBOOK_SUFFIX = ".ipynb"
#: Cells with this tag (training loops, plots of the training curves) never run at grading.
SKIP_TAG = "skip-grading"
MAX_MESSAGE = 2000
MAX_TRACEBACK = 6000
#: The grader reads a notebook on the host before any sandbox starts: these bound its work.
MAX_NOTEBOOK_BYTES = 32 * 2**20
MAX_NOTEBOOK_CELLS = 2000


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
    preload: Sequence[str] = (),
    seed: int | None = None,
    repeat_predict: bool = False,
    started: Callable[[], None] = lambda: None,
    progress: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """Run the submission in ``submission`` on ``inputs``, writing its predictions into
    ``output``; return the run's record (status, failure, timings, environment).

    Before any of the submission's code runs, the libraries of ``preload`` that it imports
    are imported and the random generators seeded with ``seed``; then ``started`` is
    called (the supervisor's CPU clock starts there).  ``progress`` hears where the run is.
    With ``repeat_predict`` predict is called twice and the record says whether the two
    outputs differ.
    """
    _apply_rlimits(rlimits)
    context = RunContext(tuple(preload), seed, repeat_predict, started, progress)
    begun = time.perf_counter()
    record: dict[str, Any] = {"format": RECORD_FORMAT, "timings": {}}
    try:
        _run(Path(submission), Path(inputs), Path(output), record, notebook_limits, context)
        record["status"] = "completed"
        record["failure"] = None
    except SubmissionFailure as failure:
        record["status"] = "failed"
        record["failure"] = failure.to_record()
    record["timings"]["total_s"] = round(time.perf_counter() - begun, 4)
    record["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    record["environment"] = record.get("environment") or startup.environment()
    return record


@dataclass(frozen=True)
class RunContext:
    """How the worker starts the submission: see :func:`work`."""

    preload: tuple[str, ...] = ()
    seed: int | None = None
    repeat_predict: bool = False
    started: Callable[[], None] = lambda: None
    progress: Callable[[str], None] = lambda text: None


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
    context: RunContext,
) -> None:
    entry = find_entry(submission_dir)
    if entry.suffix.lower() == NOTEBOOK_SUFFIX:
        # The notebook runner (its own module, loaded beside this one by the supervisor).
        sys.modules["medgrade_notebook"].run_notebook(
            entry, submission_dir, input_dir, output_dir, record, notebook_limits, context
        )
        return
    sources = [path.read_text(errors="replace") for path in sorted(submission_dir.glob("*.py"))]
    startup.preimport(startup.imported_libraries(sources, context.preload))
    startup.seed_generators(context.seed)
    context.started()
    context.progress(f"importing {ENTRY_FILE}")
    started = time.perf_counter()
    module = _import_submission(entry)
    namespace = vars(module)
    record["timings"]["import_s"] = round(time.perf_counter() - started, 4)
    _predict_and_save(
        namespace,
        ENTRY_FILE,
        submission_dir,
        input_dir,
        output_dir,
        record,
        repeat=context.repeat_predict,
        progress=context.progress,
    )


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
    *,
    repeat: bool = False,
    progress: Callable[[str], None] = lambda text: None,
) -> None:
    manifest = json.loads((input_dir / "manifest.json").read_text())
    read_inputs = {"array": _read_array, "cases": _read_cases, "records": _read_records}[
        manifest["input"]["layout"]
    ]
    inputs = read_inputs(input_dir / manifest["input"]["file"])
    output = manifest["output"]
    per_case = output["layout"] == "per_case"
    timings = record["timings"]
    load_model = _entry_point(namespace, defined_in, "load_model", ("artifacts_dir",))
    predict = _entry_point(namespace, defined_in, "predict", ("model", "inputs"))

    progress("load_model")
    started = time.perf_counter()
    model = _call_submission("load_model", load_model, str(submission_dir))
    timings["load_model_s"] = round(time.perf_counter() - started, 4)

    progress("predict")
    started = time.perf_counter()
    batch_size = manifest.get("batch_size") or len(inputs)

    def predict_all() -> list[Any]:
        batches = []
        for first in range(0, len(inputs), batch_size):
            batch = inputs[first : first + batch_size]
            result = _call_submission("predict", predict, model, batch)
            if per_case:
                batches.append(_per_case(result, batch, first, output))
            else:
                batches.append(_as_array(result, len(batch)))
        return batches

    batches = predict_all()
    timings["predict_s"] = round(time.perf_counter() - started, 4)
    if repeat:
        progress("predict, a second time")
        record["determinism"] = _compare(batches, predict_all(), per_case=per_case)
    record["n_cases"] = len(inputs)
    record["batch_size"] = batch_size
    if per_case:
        folder = output_dir / wire.PER_CASE_DIR
        folder.mkdir(exist_ok=True)
        for position, case_output in enumerate(m for batch in batches for m in batch):
            _save_predictions(folder / f"{position:05d}.npy", case_output)
    else:
        predictions = batches[0] if len(batches) == 1 else _concatenate(batches)
        _save_predictions(output_dir / wire.PREDICTIONS, predictions)


def _compare(first: list[Any], second: list[Any], *, per_case: bool) -> dict[str, Any]:
    """How two calls of predict on the same inputs differ: the largest difference of a
    prediction (or share of a label map's voxels), and how many cases changed."""
    import numpy as np

    cases = [c for batch in first for c in batch] if per_case else list(_concatenate(first))
    again = [c for batch in second for c in batch] if per_case else list(_concatenate(second))
    largest, changed = 0.0, 0
    for one, other in zip(cases, again, strict=True):
        one, other = np.asarray(one), np.asarray(other)
        if one.shape != other.shape:
            largest, changed = float("inf"), changed + 1
            continue
        if per_case:
            difference = float(np.mean(one != other))
        else:
            difference = float(np.max(np.abs(one.astype(np.float64) - other), initial=0.0))
        if not np.isfinite(difference) or difference > 0:
            changed += 1
        largest = max(largest, difference) if np.isfinite(difference) else float("inf")
    return {"max_difference": largest, "cases_changed": changed, "n_cases": len(cases)}


def _read_array(path: Path) -> Any:
    import numpy as np

    return np.load(path, allow_pickle=False)


def _read_cases(path: Path) -> list[dict[str, Any]]:
    """The cases of a case archive (medgrade's ``save_volume_archive`` layout)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as archive:
        spacings = archive["spacings_mm"]
        return [
            {"image": archive[f"image_{i:05d}"], "spacing_mm": tuple(float(s) for s in spacing)}
            for i, spacing in enumerate(spacings)
        ]


def _read_records(path: Path) -> list[Any]:
    """The cases of a records file: a JSON list, one element per case (the host wrote it)."""
    records = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(records, list):
        raise ValueError(f"{path.name} is not a JSON list of cases")
    return records


def _per_case(
    result: Any, batch: list[dict[str, Any]], first: int, output: dict[str, str]
) -> list[Any]:
    """One output per case of ``batch`` (a label map, say), each of the shape of the case's
    input ``output["shape_of"]``; values are checked by the grader, which knows the contract."""
    shape_of, noun = output["shape_of"], output["noun"]
    if hasattr(result, "detach") or not isinstance(result, list | tuple):
        try:
            result = list(result)
        except TypeError:
            raise SubmissionFailure(
                "invalid_output",
                f"predict must return a list of {noun}s, one per case; it returned a "
                f"{type(result).__name__}",
            ) from None
    if len(result) != len(batch):
        raise SubmissionFailure(
            "wrong_shape",
            f"predict returned {len(result)} {noun}s for a batch of {len(batch)} cases; it "
            "must return one per case, in the order of the inputs",
        )
    outputs = []
    for offset, (case_output, case) in enumerate(zip(result, batch, strict=True)):
        array = _numbers(case_output, f"predict, for case {first + offset},", output["expected"])
        if array.shape != case[shape_of].shape:
            raise SubmissionFailure(
                "wrong_shape",
                f"the {noun} of case {first + offset} has shape {array.shape}; its {shape_of} "
                f"has shape {case[shape_of].shape}, and the two must match voxel for voxel",
            )
        outputs.append(array)
    return outputs


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
