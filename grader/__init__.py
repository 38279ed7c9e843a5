"""medgrade: assess and autograde deep-learning mini-projects in healthcare courses.

The host side of medgrade: task specs, data and splits, scoring, rubrics, reports,
the results store and the command line.  Untrusted code never runs in this package;
it runs in :mod:`sandbox`.
"""

from grader._version import __version__

__all__ = ["__version__", "check"]


def __getattr__(name: str) -> object:
    # Imported on first use: ``import grader`` stays light for the sandbox-free modules.
    if name == "check":
        from grader.notebooks import check

        return check
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
