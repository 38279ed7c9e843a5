"""File-system chores on folders that hold what students sent: removal without recursion.

``shutil.rmtree`` and ``os.walk`` recurse once per folder level, so a submission that
nests folders a few thousand deep would make them raise ``RecursionError`` (not an
``OSError``, so no ``ignore_errors`` catches it) in the middle of a batch.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything below it, however deep; links are removed, never
    followed.  What cannot be removed is left (and the rest still goes)."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return
    pending = [str(path)]
    emptied: list[str] = []
    while pending:
        folder = pending.pop()
        emptied.append(folder)
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o700)  # the staged copy was made read-only
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue
    for folder in reversed(emptied):
        with contextlib.suppress(OSError):
            os.rmdir(folder)
