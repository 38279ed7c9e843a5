"""``medgrade data fetch``: download a task's dataset into the data directory.

Each loader that reads a downloadable dataset registers the files it needs, as (URL, path
relative to the data directory) pairs, so that a fetched folder is exactly what the loader
reads.  ``$MEDGRADE_DOWNLOAD_MIRROR`` replaces the origin by a mirror holding the same
relative paths (air-gapped grading servers, course-internal copies).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.errors import DataError


@dataclass(frozen=True)
class Download:
    url: str
    path: str  # relative to the data directory


DownloadPlan = Callable[..., list[Download]]
_PLANS: dict[str, DownloadPlan] = {}
_NOT_DOWNLOADABLE: dict[str, str] = {}


def register_downloads(loader: str) -> Callable[[DownloadPlan], DownloadPlan]:
    """Register the files the dataset ``loader`` needs (given the task's ``params``)."""

    def decorate(plan: DownloadPlan) -> DownloadPlan:
        _PLANS[loader] = plan
        return plan

    return decorate


def register_no_download(loader: str, why: str) -> None:
    """Say why ``loader``'s dataset needs no (or no automatic) download."""
    _NOT_DOWNLOADABLE[loader] = why


def fetch(
    loader: str,
    params: Mapping[str, object],
    data_dir: Path,
    *,
    on_file: Callable[[Path, bool], None] | None = None,
) -> list[Path]:
    """Download what ``loader`` needs into ``data_dir``; files already there are kept."""
    if loader in _NOT_DOWNLOADABLE:
        raise DataError(_NOT_DOWNLOADABLE[loader])
    if loader not in _PLANS:
        raise DataError(f"medgrade cannot download the {loader!r} dataset")
    mirror = os.environ.get("MEDGRADE_DOWNLOAD_MIRROR", "").rstrip("/")
    written = []
    for item in _PLANS[loader](**params):
        target = data_dir / item.path
        if target.is_file():
            if on_file is not None:
                on_file(target, False)
            continue
        url = f"{mirror}/{item.path}" if mirror else item.url
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as partial:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    shutil.copyfileobj(response, partial)
            except OSError as error:
                os.unlink(partial.name)
                raise DataError(f"downloading {url} failed: {error}") from None
        os.replace(partial.name, target)
        written.append(target)
        if on_file is not None:
            on_file(target, True)
    return written
