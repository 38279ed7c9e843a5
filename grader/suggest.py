"""'Did you mean ...?' for a mistyped name, worded one way everywhere."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


def suggest(value: str, known: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the known name closest to ``value``, else ``""``."""
    close = close_names(value, known)
    return f" (did you mean {close[0]!r}?)" if close else ""


def close_names(
    value: str, known: Iterable[str], *, n: int = 1, aliases: Mapping[str, str] | None = None
) -> list[str]:
    """Up to ``n`` known names closest to ``value``, best first (difflib's ratio), after the
    name ``aliases`` gives for it (another library's name for the same thing), if known."""
    known = list(known)
    found = [aliases[value]] if aliases is not None and aliases.get(value) in known else []
    found += [name for name in difflib.get_close_matches(value, known, n=n) if name not in found]
    return found


def either(names: Iterable[str]) -> str:
    """``'a' or 'b'``: names as a message offers them."""
    return " or ".join(map(repr, names))
