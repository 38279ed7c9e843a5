"""Finding a downloaded dataset's files, and saying plainly how to get them when absent."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from grader.errors import DataError


def find_data_file(
    data_dir: Path | None, *, dataset: str, folder: str, patterns: Sequence[str], get_it: str
) -> Path:
    """The first file matching ``patterns`` in ``data_dir/folder``, then in ``data_dir``.

    ``get_it`` tells the user what to download and from where; the message adds where to
    put it.
    """
    where = (
        f"Put it in {data_dir / folder}/ (or anywhere, with --data-dir DIR / MEDGRADE_DATA=DIR "
        f"pointing at the folder that holds {folder}/)."
        if data_dir is not None
        else f"Put it in DIR/{folder}/ and pass --data-dir DIR or set MEDGRADE_DATA=DIR."
    )
    if data_dir is None:
        raise DataError(f"{dataset} is not on this machine. {get_it} {where}")
    for base in (data_dir / folder, data_dir):
        for pattern in patterns:
            found = sorted(p for p in base.glob(pattern) if p.is_file())
            if found:
                return found[0]
    raise DataError(
        f"{dataset} was not found: no {' or '.join(patterns)} in {data_dir / folder} or "
        f"{data_dir}. {get_it} {where}"
    )


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
