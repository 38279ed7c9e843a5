"""``medgrade data fetch``: download a task's dataset into the data directory.

Each loader that reads a downloadable dataset registers the files it needs, as (URL, path
relative to the data directory) pairs, so that a fetched folder is exactly what the loader
reads.  ``$MEDGRADE_DOWNLOAD_MIRROR`` replaces the origin by a mirror holding the same
relative paths (air-gapped grading servers, course-internal copies).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.errors import DataError


@dataclass(frozen=True)
class Download:
    """One file to download to ``path`` (relative to the data directory and to a mirror).

    With ``unpacks_to``, the file is a tar archive holding that one folder: it is unpacked
    into the data directory and not kept.
    """

    url: str
    path: str
    unpacks_to: str | None = None


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
        target = data_dir / (item.unpacks_to or item.path)
        if target.exists():
            if on_file is not None:
                on_file(target, False)
            continue
        url = f"{mirror}/{item.path}" if mirror else item.url
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data_dir, delete=False) as partial:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    shutil.copyfileobj(response, partial)
            except OSError as error:
                os.unlink(partial.name)
                raise DataError(f"downloading {url} failed: {error}") from None
        if item.unpacks_to:
            _unpack(Path(partial.name), data_dir, url, item.unpacks_to)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(partial.name, target)
        written.append(target)
        if on_file is not None:
            on_file(target, True)
    return written


def _unpack(archive: Path, data_dir: Path, url: str, folder: str) -> None:
    """Unpack the tar ``archive``, which must hold only ``folder``, into ``data_dir`` and
    delete it.  The "data" filter refuses links out, device files and absolute paths; the
    folder appears whole or not at all, so an interrupted fetch is simply run again."""
    staging = Path(tempfile.mkdtemp(dir=data_dir, prefix=".unpacking-"))
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name not in ("", ".")]
            stray = sorted({Path(m.name).parts[0] for m in members} - {folder})
            if stray:
                raise DataError(f"{url} holds {stray} besides {folder}/; it was not unpacked")
            tar.extractall(staging, members=members, filter="data")
        os.replace(staging / folder, data_dir / folder)
    except (tarfile.TarError, OSError) as error:
        raise DataError(f"{url} is not a readable tar archive: {error}") from None
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
