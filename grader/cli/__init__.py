"""The ``medgrade`` command line: parses arguments and calls :mod:`grader.journeys`.

One module per group of commands; importing them registers their commands on :data:`app`,
in the order ``medgrade --help`` lists them.
"""

import sys

from grader.cli import _environments, _grading, _tasks
from grader.cli._app import app

__all__ = ["app", "main"]
_COMMANDS = (_grading, _environments, _tasks)  # imported for the commands they register


def main() -> None:  # pragma: no cover - console-script entry for `python -m grader`
    sys.exit(app())
