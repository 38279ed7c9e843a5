"""Running untrusted submissions: the backend interface, backends and the harness.

A backend runs :data:`HARNESS_PATH` on a :class:`SandboxJob` and returns what it saw in a
:class:`SandboxResult`; it never interprets predictions (the grader does that outside).
"""

from sandbox._backend import (
    HARNESS_PATH,
    SandboxBackend,
    SandboxJob,
    SandboxLimits,
    SandboxResult,
    backend_names,
    get_backend,
    harness_arguments,
)
from sandbox._local import LocalBackend

__all__ = [
    "HARNESS_PATH",
    "LocalBackend",
    "SandboxBackend",
    "SandboxJob",
    "SandboxLimits",
    "SandboxResult",
    "backend_names",
    "get_backend",
    "harness_arguments",
]
