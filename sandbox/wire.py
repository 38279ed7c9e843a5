"""The wire between the host and a sandbox run: file names, limits and the report channel.

Both sides import this module: the grader normally, the in-sandbox harness by path (it is
bound read-only beside the harness), so it uses only the standard library and imports
nothing from medgrade.

Nothing a submission writes reaches the host's disk directly.  The submission's code runs
in a *worker* process that writes its predictions into the sandbox's own size-limited
scratch ``/output``; the harness's *supervisor* process (which never runs submission code)
waits for it, kills whatever it left, and sends one **report** over a channel only it
holds: a socket that was handed to the sandbox before any submission code ran.  The host
writes the report's files under its own names, each of bounded size.

The channel, from the host: :data:`GO` (the run may start), then the run's nonce and a
newline, which the supervisor reads only once no submission process is left.  To the host:
:data:`STARTED` as soon as the supervisor has the go (before any submission code can run,
so a sandbox that never says it is the infrastructure's failure, never the student's); at
the end :data:`MAGIC`, a 4-byte big-endian header length, the header (JSON), then each
file's bytes in the header's order.  The header is ``{"nonce", "record", "observed", "files"}``:
``record`` is what the worker said of itself (untrusted, like everything it produced),
``observed`` what the supervisor saw of it (exit status, timeout, CPU time), and ``files``
the ``[name, size]`` of each file that follows.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The report's header, as the host writes it into the run's output folder.
RUN_RECORD = "run.json"
#: How the harness reads a split's inputs file: ``array``, one ``.npy`` whose rows are the
#: cases (``predict`` gets slices of it); ``cases``, an ``.npz`` case archive
#: (``image_{i:05d}`` and the row ``i`` of ``spacings_mm``; ``predict`` gets a list of dicts);
#: ``records``, a JSON list with one element per case (``predict`` gets a slice of the list).
INPUT_LAYOUTS = ("array", "cases", "records")
#: How the harness collects what ``predict`` returns: ``rows``, one array with a row per
#: case, saved as :data:`PREDICTIONS`; ``per_case``, one array per case of its input's shape,
#: saved as ``PER_CASE_DIR/{position:05d}.npy``.
OUTPUT_LAYOUTS = ("rows", "per_case")
PREDICTIONS = "predictions.npy"
PER_CASE_DIR = "per_case"
#: A notebook submission's notebook as the sandbox ran it.
EXECUTED_NOTEBOOK = "notebook.ipynb"

GO = b"G"
STARTED = b"S"
MAGIC = b"MGR1"
NONCE_BYTES = 16
#: What the worker may say of itself (its status, failure, timings, notebook cells).
MAX_RECORD_BYTES = 256 * 1024
MAX_HEADER_BYTES = 2 * MAX_RECORD_BYTES
#: How much of the worker's last progress note (where it was) a report keeps.
MAX_PROGRESS_CHARS = 300
#: Each file of a report, the number of per-case outputs, and all files together.
MAX_FILE_BYTES = {PREDICTIONS: 64 * 2**20, EXECUTED_NOTEBOOK: 32 * 2**20}
MAX_PER_CASE_BYTES = 64 * 2**20
MAX_PER_CASE_FILES = 10_000
MAX_REPORT_BYTES = 256 * 2**20
#: The sandbox's own scratch ``/output`` (a tmpfs, so it counts towards the run's memory).
OUTPUT_SCRATCH_MB = 256

_PER_CASE_FILE = re.compile(rf"^{PER_CASE_DIR}/\d{{5}}\.npy$")


class ChannelError(RuntimeError):
    """A report that does not follow this module's format."""


def allowed_file(name: str) -> int | None:
    """The size limit of a report file called ``name``, or None if no such file may come."""
    if name in MAX_FILE_BYTES:
        return MAX_FILE_BYTES[name]
    if _PER_CASE_FILE.match(name):
        return MAX_PER_CASE_BYTES
    return None


def send_report(
    channel: socket.socket, header: dict[str, Any], files: Sequence[tuple[str, Path, int]]
) -> None:
    """Send the report (the sandbox side): ``files`` are ``(name, path, size)``, each
    opened only now (never through a link) and sent if it still has that size."""
    header = dict(header, files=[[name, size] for name, _, size in files])
    # Not ASCII-escaped: the header is never larger than the record it carries.
    encoded = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    channel.sendall(MAGIC + struct.pack(">I", len(encoded)) + encoded)
    for _, path, size in files:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as handle:
            if os.fstat(descriptor).st_size != size or channel.sendfile(handle, count=size) != size:
                raise ChannelError("a report file changed while it was sent")


def receive_report(channel: socket.socket, output_dir: Path) -> dict[str, Any]:
    """Read one report and write its files into ``output_dir`` (the host side); return the
    header, which is also written there as :data:`RUN_RECORD`.

    Every name is checked against the files a report may carry and every size against its
    limit before anything is written; files are created new, never through a link.
    """
    start = _receive_exactly(channel, len(MAGIC) + 4)
    if start[: len(MAGIC)] != MAGIC:
        raise ChannelError("the report does not start with the channel's magic bytes")
    (length,) = struct.unpack(">I", start[len(MAGIC) :])
    if length > MAX_HEADER_BYTES:
        raise ChannelError(f"the report's header is {length} bytes; at most {MAX_HEADER_BYTES}")
    try:
        header = json.loads(_receive_exactly(channel, length))
    except ValueError as error:
        raise ChannelError(f"the report's header is not JSON ({error})") from None
    if not isinstance(header, dict) or not isinstance(header.get("files"), list):
        raise ChannelError("the report's header is not a JSON object with a file list")
    files = _checked_files(header["files"])
    for name, size in files:
        target = output_dir / name
        if "/" in name:
            target.parent.mkdir(exist_ok=True)
        _write_new(target, _receive_exactly(channel, size))
    header.pop("files")
    header["file_names"] = [name for name, _ in files]
    _write_new(output_dir / RUN_RECORD, json.dumps(header).encode())
    return header


def _checked_files(entries: list[Any]) -> list[tuple[str, int]]:
    files: list[tuple[str, int]] = []
    total, seen = 0, set()
    for entry in entries:
        if not (
            isinstance(entry, list)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and isinstance(entry[1], int)
        ):
            raise ChannelError("a file entry of the report is not [name, size]")
        name, size = entry
        limit = allowed_file(name)
        if limit is None or name in seen:
            raise ChannelError(f"the report carries a file it may not carry: {name[:80]!r}")
        if not 0 <= size <= limit:
            raise ChannelError(f"{name} is {size} bytes; at most {limit} are accepted")
        total += size
        seen.add(name)
        files.append((name, size))
    if total > MAX_REPORT_BYTES or len(files) > MAX_PER_CASE_FILES + 2:
        raise ChannelError("the report's files are larger than a report may be")
    return files


def _receive_exactly(channel: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = channel.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ChannelError("the channel closed in the middle of the report")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _write_new(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def send_go(channel: socket.socket, nonce: str) -> None:
    """Let the run start, and queue its nonce behind the go (the host side)."""
    channel.sendall(GO + nonce.encode() + b"\n")


def receive_go(channel: socket.socket) -> None:
    """Wait for the host's go, leaving the nonce unread, and say the run started (the
    sandbox side)."""
    if channel.recv(1) != GO:
        raise ChannelError("the host did not let the run start")
    channel.sendall(STARTED)


def receive_nonce(channel: socket.socket) -> str:
    """The nonce the host queued behind the go (the sandbox side)."""
    return _receive_exactly(channel, 2 * NONCE_BYTES + 1).decode("ascii", "replace").strip()
