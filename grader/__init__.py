"""medgrade: assess and autograde deep-learning mini-projects in healthcare courses.

The host side of medgrade: task specs, data and splits, scoring, rubrics, reports,
the results store and the command line.  Untrusted code never runs in this package;
it runs in :mod:`sandbox`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("medgrade")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["__version__", "check"]


def __getattr__(name: str) -> object:
    # Imported on first use: ``import grader`` stays light for the sandbox-free modules.
    if name == "check":
        from grader.notebooks import check

        return check
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
