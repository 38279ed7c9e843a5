"""Reading what a sandbox wrote, trusting none of it.

Every file is opened without following links and read only up to a bound; a ``.npy``
header is checked (dtype, shape, size) before its data is read, so a forged header cannot
make the grader allocate a huge array.  Whatever is wrong is the submission's
:class:`InvalidOutput`, with a message for the student.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Literal

import numpy as np

#: The graded failures an output kind names when it checks predictions.
OutputFailureKind = Literal["invalid_output", "wrong_shape", "non_finite", "out_of_range"]


class InvalidOutput(ValueError):
    """Predictions that break the output contract; the message is for the student."""

    def __init__(self, message: str, kind: OutputFailureKind = "invalid_output") -> None:
        super().__init__(message)
        self.kind = kind


class UnsafeFileError(OSError):
    """A file from the sandbox that is not a plain file of bounded size."""


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """Read a file the sandbox wrote, refusing links, FIFOs, devices and oversized files.

    Opened with O_NOFOLLOW and O_NONBLOCK, so neither a symlink to /dev/zero nor a FIFO
    that never delivers can hang or exhaust the grader.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise UnsafeFileError(f"{path.name} is not a regular file")
        if status.st_size > max_bytes:
            raise UnsafeFileError(
                f"{path.name} is {status.st_size} bytes; at most {max_bytes} are read"
            )
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        raise UnsafeFileError(f"{path.name} grew past {max_bytes} bytes while being read")
    return data


def read_npy(path: Path, limit: int, *, max_ndim: int, what: str) -> np.ndarray:
    """Read a ``.npy`` file the sandbox wrote, without pickle.

    The header is checked (dtype, shape, size) before any data is read, so a forged header
    cannot make the grader allocate a huge array.
    """
    try:
        data = read_regular_file(path, limit)
    except FileNotFoundError:
        raise InvalidOutput(f"the harness reported success but wrote no file for {what}") from None
    except OSError as error:  # UnsafeFileError included: whatever it is, it is the output's
        raise InvalidOutput(f"the file of {what} is unusable: {error}") from None
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }[version]
        shape, fortran_order, dtype = read_header(stream)
    except Exception as error:  # any malformed header is the submission's output
        raise InvalidOutput(f"{what}: not a valid .npy array ({error})") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise InvalidOutput(f"{what} must be numbers; got dtype {dtype}")
    expected_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(shape) > max_ndim or expected_bytes != len(data) - stream.tell():
        raise InvalidOutput(
            f"the file of {what} does not hold the {shape} array its header declares",
            "wrong_shape",
        )
    return np.frombuffer(data, dtype=dtype, offset=stream.tell()).reshape(
        shape, order="F" if fortran_order else "C"
    )
