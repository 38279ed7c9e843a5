"""'Did you mean ...?' for a mistyped name, worded one way everywhere."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(value: str, known: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the known name closest to ``value``, else ``""``."""
    close = difflib.get_close_matches(value, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
