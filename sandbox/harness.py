"""medgrade's in-sandbox harness: the entry point that runs a submission.

Runs inside every backend, so it uses only the standard library and numpy, and it imports
nothing from medgrade.  It reads the inputs from a read-only folder, imports the
submission, calls ``load_model(artifacts_dir)`` and then ``predict(model, inputs)`` (in
batches when the task says so), and writes ``predictions.npy`` and ``run.json`` to the
output folder.  ``run.json`` carries the nonce the grader sent on standard input: a run
that ends early (``sys.exit``/``os._exit``, a crash, a kill) leaves no record with that
nonce, so it can never pass for a finished one.

Usage: python -I harness.py --submission DIR --inputs DIR --output DIR [--rlimits JSON]
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import platform
import resource
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

RECORD_FORMAT = 1
ENTRY_FILE = "predict.py"
MAX_MESSAGE = 2000
MAX_TRACEBACK = 6000


class SubmissionFailure(Exception):
    """A failure attributable to the submission, with the kind the grader reports."""

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.detail = detail


def main() -> None:
    arguments = _parse_arguments()
    # Read the nonce before any submission code runs, and leave nothing readable behind.
    nonce = sys.stdin.readline().strip()
    sys.stdin = open(os.devnull)  # noqa: SIM115 - replaces the process's stdin for good
    _apply_rlimits(json.loads(arguments.rlimits))
    output_dir = Path(arguments.output)
    started = time.perf_counter()
    record: dict[str, Any] = {"format": RECORD_FORMAT, "nonce": nonce, "timings": {}}
    try:
        _run(Path(arguments.submission), Path(arguments.inputs), output_dir, record)
        record["status"] = "completed"
        record["failure"] = None
    except SubmissionFailure as failure:
        record["status"] = "failed"
        record["failure"] = {
            "kind": failure.kind,
            "message": _printable(failure.message)[:MAX_MESSAGE],
            "detail": _printable(failure.detail)[-MAX_TRACEBACK:],
        }
    record["timings"]["total_s"] = round(time.perf_counter() - started, 4)
    record["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    record["environment"] = _environment()
    _write_json_atomically(output_dir / "run.json", record)
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit at once: a thread or atexit hook left by the submission must not run after the
    # record is written, nor keep the process alive.
    os._exit(0)


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="medgrade in-sandbox harness")
    parser.add_argument("--submission", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--rlimits", default="{}")
    return parser.parse_args()


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


def _run(submission_dir: Path, input_dir: Path, output_dir: Path, record: dict[str, Any]) -> None:
    import numpy as np

    manifest = json.loads((input_dir / "manifest.json").read_text())
    inputs = np.load(input_dir / manifest["input"]["file"], allow_pickle=False)
    timings = record["timings"]

    started = time.perf_counter()
    module = _import_submission(submission_dir)
    load_model = _entry_point(module, "load_model", ("artifacts_dir",))
    predict = _entry_point(module, "predict", ("model", "inputs"))
    timings["import_s"] = round(time.perf_counter() - started, 4)

    started = time.perf_counter()
    model = _call_submission("load_model", load_model, str(submission_dir))
    timings["load_model_s"] = round(time.perf_counter() - started, 4)

    started = time.perf_counter()
    batch_size = manifest.get("batch_size") or len(inputs)
    batches = []
    for first in range(0, len(inputs), batch_size):
        batch = inputs[first : first + batch_size]
        batches.append(_as_array(_call_submission("predict", predict, model, batch), len(batch)))
    predictions = batches[0] if len(batches) == 1 else _concatenate(batches)
    timings["predict_s"] = round(time.perf_counter() - started, 4)
    record["n_cases"] = len(inputs)
    record["batch_size"] = batch_size
    _save_predictions(output_dir / "predictions.npy", predictions)


def _import_submission(submission_dir: Path) -> ModuleType:
    entry = submission_dir / ENTRY_FILE
    if not entry.is_file():
        found = sorted(p.name for p in submission_dir.iterdir())[:20]
        raise SubmissionFailure(
            "contract_error",
            f"the submission has no {ENTRY_FILE}; it must define load_model(artifacts_dir) and "
            f"predict(model, inputs). Files found: {', '.join(found) or 'none'}",
        )
    # The submission may import its own helper modules that sit beside predict.py.
    sys.path.insert(0, str(submission_dir))
    spec = importlib.util.spec_from_file_location("submission_predict", entry)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission_predict"] = module
    _call_submission(f"importing {ENTRY_FILE}", spec.loader.exec_module, module)
    return module


def _entry_point(module: ModuleType, name: str, parameters: tuple[str, ...]) -> Any:
    function = getattr(module, name, None)
    wanted = f"{name}({', '.join(parameters)})"
    if function is None:
        raise SubmissionFailure("contract_error", f"{ENTRY_FILE} does not define {wanted}")
    if not callable(function):
        raise SubmissionFailure(
            "contract_error",
            f"{name} in {ENTRY_FILE} must be a function {wanted}, not a {type(function).__name__}",
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
    text = f"{type(error).__name__}: {error}".lower()
    return any(
        marker in text
        for marker in (
            "outofmemoryerror",
            "out of memory",
            "can't allocate memory",
            "cannot allocate memory",
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


def _as_array(result: Any, expected_rows: int) -> Any:
    import numpy as np

    try:
        if hasattr(result, "detach") and hasattr(result, "cpu"):  # a torch tensor: be forgiving
            result = result.detach().cpu().float().numpy()
        array = np.asarray(result)
    except MemoryError:
        raise SubmissionFailure(
            "out_of_memory", "ran out of memory converting the predictions"
        ) from None
    except Exception as error:
        raise SubmissionFailure(
            "invalid_output",
            f"predict returned a {type(result).__name__} that is not convertible to a numpy "
            f"array ({error})",
        ) from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise SubmissionFailure(
            "invalid_output",
            f"predict must return numbers (a float numpy array); it returned dtype {array.dtype} "
            f"from a {type(result).__name__}",
        )
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
        with open(path.with_suffix(".tmp"), "wb") as handle:
            np.save(handle, np.ascontiguousarray(predictions), allow_pickle=False)
    except MemoryError:
        raise SubmissionFailure(
            "out_of_memory", "ran out of memory saving the predictions"
        ) from None
    except (ValueError, OSError) as error:
        raise SubmissionFailure(
            "invalid_output", f"the predictions cannot be saved: {error}"
        ) from None
    os.replace(path.with_suffix(".tmp"), path)


def _write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, default=str))
    os.replace(temporary, path)


def _environment() -> dict[str, Any]:
    versions = {"python": platform.python_version()}
    for name in ("numpy", "torch", "sklearn", "monai", "torchvision"):
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


if __name__ == "__main__":
    main()
