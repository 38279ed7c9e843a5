"""How every run starts, in a cold sandbox, the warm pool and a notebook's kernel alike:
the submission's preloaded libraries imported first, the global random generators seeded,
and what the run had to work with (library versions, the device) recorded.

Runs inside every backend beside the submission: the standard library only.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import platform
import sys
from collections.abc import Iterable, Sequence
from typing import Any


def imported_libraries(sources: Iterable[str], candidates: Sequence[str]) -> list[str]:
    """The ``candidates`` (preloaded libraries) that ``sources`` import, in candidate order.

    Importing them before the submission's code starts keeps library imports out of its
    CPU time, in a cold sandbox as in the warm pool (whose server imported them all)."""
    names: set[str] = set()
    for source in sources:
        # IPython's magics and shell escapes are no Python.
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return [
        candidate
        for candidate in candidates
        if candidate in names or any(name.startswith(candidate + ".") for name in names)
    ]


def preimport(libraries: Sequence[str]) -> None:
    for name in libraries:
        with contextlib.suppress(Exception):  # not installed: the submission will say so
            importlib.import_module(name)


def seed_generators(seed: int | None) -> None:
    """Seed Python's, numpy's and (if imported) torch's global random generators."""
    if seed is None:
        return
    import random

    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def environment() -> dict[str, Any]:
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
