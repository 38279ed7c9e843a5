"""Choosing a backend: ``--backend auto`` tries docker, then bwrap, then (checks only) local."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sandbox._backend import (
    GpuSelection,
    Runtime,
    SandboxBackend,
    SandboxUnavailableError,
    get_backend,
)

Purpose = Literal["check", "grade"]


@dataclass(frozen=True)
class Choice:
    backend: SandboxBackend
    notes: tuple[str, ...]


def choose_backend(
    name: str = "auto",
    *,
    purpose: Purpose,
    unsafe_local: bool = False,
    gpus: GpuSelection | None = None,
    runtime: Runtime | None = None,
) -> Choice:
    """The backend to use, with notes for the user on why it was chosen.

    A marker's batch (``purpose="grade"``) never runs on the non-isolating ``local``
    backend unless ``unsafe_local`` says so explicitly.  ``runtime`` says which Python
    (bubblewrap, local) or image (Docker) runs the submissions.
    """
    runtime = runtime or Runtime()
    local_allowed = purpose == "check" or unsafe_local
    if name == "local" and not local_allowed:
        raise SandboxUnavailableError(
            "the local backend does not isolate submissions from this machine; grading a class "
            "with it needs --unsafe-local"
        )
    if name != "auto":
        return Choice(_make(name, gpus, runtime), ())
    notes: list[str] = []
    for candidate in ("docker", "bwrap"):
        try:
            return Choice(_make(candidate, gpus, runtime), tuple(notes))
        except SandboxUnavailableError as error:
            notes.append(f"{candidate} unavailable: {error}")
    if local_allowed:
        notes.append("running in the local backend, which does NOT isolate the submission")
        return Choice(_make("local", gpus, runtime), tuple(notes))
    raise SandboxUnavailableError(
        "no isolating sandbox is available (" + "; ".join(notes) + "); install Docker or "
        "bubblewrap, or pass --unsafe-local to grade without isolation"
    )


def _make(name: str, gpus: GpuSelection | None, runtime: Runtime) -> SandboxBackend:
    if name == "docker":
        return get_backend(name, gpus=gpus, image=runtime.image)
    if name == "bwrap":
        return get_backend(name, gpus=gpus, python=runtime.python)
    if name == "local":
        return get_backend(name, python=runtime.python)
    return get_backend(name)
