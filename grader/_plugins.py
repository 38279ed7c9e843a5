"""What installed packages plug into medgrade: the entry points of one group, loaded."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

from grader.errors import PluginError


def installed_plugins(group: str, what: str) -> Iterator[tuple[str, Any, str]]:
    """Each entry point of ``group`` as ``(its name, the object it names, where it came
    from)``; one that cannot be imported is a :class:`PluginError` naming it and its
    package, whatever it raised (``what`` says what it was meant to be: "task kind")."""
    for entry in entry_points(group=group):
        distribution = entry.dist.name if entry.dist is not None else "an unknown package"
        origin = f"{entry.value} (entry point {entry.name!r} of {distribution})"
        try:
            loaded = entry.load()
        except Exception as error:  # a broken plug-in is named, whatever it raised
            raise PluginError(
                f"cannot load {what} {origin}: {type(error).__name__}: {error}"
            ) from error
        yield entry.name, loaded, origin
