"""Running untrusted submissions: the backend interface, backends and the harness.

A backend runs the in-sandbox supervisor (``sandbox/supervisor.py``, which runs the harness
in a worker) on a :class:`SandboxJob`, writes the run's report into the job's output
folder and returns what it saw in a :class:`SandboxResult`; it never interprets
predictions (the grader does that outside).
"""

from sandbox._backend import (
    HARNESS_PATH,
    GpuSelection,
    Runtime,
    SandboxBackend,
    SandboxJob,
    SandboxLimits,
    SandboxResult,
    SandboxUnavailableError,
    backend_names,
    get_backend,
    supervisor_arguments,
)
from sandbox._bwrap import BubblewrapBackend
from sandbox._docker import DockerBackend
from sandbox._local import LocalBackend
from sandbox._placement import GpuPlacement, place_on_gpus, placement_devices
from sandbox._scripted import ScriptedBackend, ScriptedRun
from sandbox._select import Choice, choose_backend
from sandbox._warm import WarmBubblewrap, warm

__all__ = [
    "HARNESS_PATH",
    "BubblewrapBackend",
    "Choice",
    "DockerBackend",
    "GpuPlacement",
    "GpuSelection",
    "LocalBackend",
    "Runtime",
    "SandboxBackend",
    "SandboxJob",
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailableError",
    "ScriptedBackend",
    "ScriptedRun",
    "WarmBubblewrap",
    "backend_names",
    "choose_backend",
    "get_backend",
    "place_on_gpus",
    "placement_devices",
    "supervisor_arguments",
    "warm",
]
