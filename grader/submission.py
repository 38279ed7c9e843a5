"""Finding submissions and staging a private copy of one for the sandbox.

The grader never runs a submission from where the student left it: it copies (or safely
unzips) it into a fresh folder, so the original is never modified and a zip cannot write
outside its folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.errors import SubmissionError

#: The contract as students read it (``medgrade task show``, the student bundle).
SUBMISSION_CONTRACT = """\
A submission is a folder (or a .zip of one) containing predict.py, or a Jupyter notebook
(.ipynb, alone or in such a folder), which defines:

    def load_model(artifacts_dir: str):
        # artifacts_dir is the submission folder (read-only): load your weights from it
        ...

    def predict(model, inputs: numpy.ndarray) -> numpy.ndarray:
        # inputs: the task's inputs (see "Inputs"); return the task's output (see "Output")
        ...

plus any weight files and helper modules predict.py imports. A notebook runs top to
bottom first, except cells tagged skip-grading (put training there). In the marker's
sandbox the code runs without network access, within the task's time and memory limits,
and sees the inputs only, never labels."""

MAX_SUBMISSION_BYTES = 1024 * 1024 * 1024
MAX_SUBMISSION_FILES = 5000
#: Folders nested deeper than this are refused (no project needs them; a few thousand
#: levels would break recursive file-system functions).
MAX_SUBMISSION_DEPTH = 32
#: Never part of a submission; medgrade-check/ is what a self-check from the notebook's
#: folder leaves there.
IGNORED_NAMES = {
    "__pycache__", ".ipynb_checkpoints", ".git", "__MACOSX", ".DS_Store", "medgrade-check"
}  # fmt: skip


@dataclass(frozen=True)
class Submission:
    student_id: str
    path: Path
    #: The student's name where the submissions came from an LMS download.
    name: str | None = None
    #: The LMS marked the submission late (Canvas only says so, never by how much).
    late: bool = False


def unusable_student_id(student_id: str) -> str | None:
    """Why ``student_id`` cannot name a student (its reports and exports are files named
    by it), or None when it can."""
    if not student_id.strip():
        return "it is empty"
    if not student_id.strip("."):
        return "it is made of dots only"
    if any(character in student_id for character in "/\\\0"):
        return "it holds a path separator"
    return None


def student_id_from_name(name: str) -> str:
    stem = name
    for suffix in (".zip", ".tar.gz", ".tgz", ".tar", ".7z", ".rar", ".py", ".ipynb"):
        if name.lower().endswith(suffix):
            stem = name[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", stem).strip("_") or "unnamed"


def stage_submission(
    source: Path, destination: Path, *, max_bytes: int = MAX_SUBMISSION_BYTES
) -> Path:
    """Copy or unzip ``source`` into the new folder ``destination`` and return the folder
    holding the submission (a zip of a single folder is unwrapped).  A lone notebook is
    copied into a folder of its own.  A submission whose files together exceed ``max_bytes``
    (a task's ``limits.submission_mb``) is refused before anything runs."""
    source = source.resolve()
    try:
        if source.is_dir():
            _copy_folder(source, destination, max_bytes)
        elif source.is_file() and source.suffix.lower() == ".ipynb":
            _check_size(source.stat().st_size, 1, max_bytes)
            destination.mkdir(parents=True)
            shutil.copyfile(source, destination / source.name)
        elif source.is_file() and zipfile.is_zipfile(source):
            _extract_zip(source, destination, max_bytes)
        elif source.is_file():
            raise SubmissionError(f"{source.name} is neither a folder, a zip file nor a notebook")
        else:
            raise SubmissionError(f"{source} does not exist")
    except SubmissionError:
        raise
    except Exception as error:  # corrupt deflate streams, encrypted members, unreadable files...
        raise SubmissionError(f"{source.name} could not be read: {error}") from None
    entries = [p for p in destination.iterdir() if p.name not in IGNORED_NAMES]
    if not entries:
        raise SubmissionError("the submission is empty")
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return destination


def content_sha256(folder: Path) -> str:
    """Hash of every file's relative path and bytes: equal for a folder and its zip."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def submission_sha256(source: Path, *, workdir: Path) -> str:
    """The :func:`content_sha256` that grading ``source`` records, without grading it.

    It is computed on a throw-away staged copy (in ``workdir``), so it is exactly the hash
    of what the sandbox would see: equal for a folder and its zip, blind to ``__pycache__``
    and other ignored names.  Raises :class:`SubmissionError` when ``source`` cannot be staged.
    """
    with tempfile.TemporaryDirectory(prefix="medgrade-hash-", dir=workdir) as scratch:
        return content_sha256(stage_submission(source, Path(scratch) / "submission"))


def _copy_folder(source: Path, destination: Path, max_bytes: int) -> None:
    total, count = 0, 0
    destination.mkdir(parents=True)

    def unreadable(error: OSError) -> None:
        raise SubmissionError(f"{error.filename} cannot be read ({error.strerror})")

    for root, directories, files in os.walk(source, followlinks=False, onerror=unreadable):
        directories[:] = [d for d in directories if d not in IGNORED_NAMES]
        relative = Path(root).relative_to(source)
        _check_depth(relative)
        for name in directories:
            path = Path(root) / name
            if path.is_symlink():
                raise SubmissionError(
                    f"{relative / name} is a symbolic link to a folder; copy the folder in"
                )
            (destination / relative / name).mkdir()
        for name in files:
            if name in IGNORED_NAMES:
                continue
            path = Path(root) / name
            if path.is_symlink() and not path.resolve().is_relative_to(source):
                raise SubmissionError(
                    f"{relative / name} is a symbolic link pointing outside the submission"
                )
            if not path.is_file():
                continue
            count += 1
            total += path.stat().st_size
            _check_size(total, count, max_bytes)
            shutil.copyfile(path, destination / relative / name)


def _extract_zip(source: Path, destination: Path, max_bytes: int) -> None:
    destination.mkdir(parents=True)
    try:
        with zipfile.ZipFile(source) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            _check_size(sum(m.file_size for m in members), len(members), max_bytes)
            for member in members:
                name = PurePosixPath(member.filename)
                if name.is_absolute() or ".." in name.parts or member.filename.startswith("/"):
                    raise SubmissionError(f"the zip holds an unsafe path {member.filename!r}")
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise SubmissionError(f"the zip holds a symbolic link {member.filename!r}")
                _check_depth(name.parent)
                if IGNORED_NAMES.intersection(name.parts):
                    continue
                target = destination.joinpath(*name.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as read, open(target, "wb") as write:
                    shutil.copyfileobj(read, write)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        raise SubmissionError(f"{source.name} is not a readable zip file ({error})") from None


def _check_depth(folder: PurePosixPath | Path) -> None:
    if len(folder.parts) > MAX_SUBMISSION_DEPTH:
        raise SubmissionError(
            f"the submission nests folders more than {MAX_SUBMISSION_DEPTH} deep "
            f"({str(folder)[:80]}...)"
        )


def _check_size(total: int, count: int, max_bytes: int) -> None:
    if total > max_bytes:
        raise SubmissionError(
            f"the submission's files, weights included, exceed the {max_bytes / 2**20:g} MiB "
            "it may have; ship smaller weights (fewer parameters, float16, a distilled model)"
        )
    if count > MAX_SUBMISSION_FILES:
        raise SubmissionError(f"the submission has more than {MAX_SUBMISSION_FILES} files")


#: What :func:`submission_code` keeps of one file, and of a whole submission: enough for any
#: mini-project's code, and a bound on what a class's code-similarity check compares.
MAX_CODE_FILE_BYTES = 256 * 1024
MAX_CODE_BYTES = 1024 * 1024


def submission_code(folder: Path) -> str | None:
    """The Python a staged submission is made of, as one text: each ``.py`` file (``predict.py``
    first, then by path) and each notebook's code cells, under a ``# file: NAME`` line;
    None when it has none.  What the class's code-similarity flags compare
    (:mod:`grader.integrity`).

    Files past :data:`MAX_CODE_FILE_BYTES`, symbolic links and unreadable notebooks are left
    out; the text stops at :data:`MAX_CODE_BYTES`.
    """
    paths = sorted(
        (p for p in folder.rglob("*") if p.suffix.lower() in {".py", ".ipynb"}),
        key=lambda p: (p.relative_to(folder) != Path("predict.py"), p.relative_to(folder)),
    )
    parts: list[str] = []
    size = 0
    for path in paths:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_CODE_FILE_BYTES:
            continue
        if IGNORED_NAMES.intersection(path.relative_to(folder).parts):
            continue
        text = path.read_text("utf-8", "replace")
        code = _notebook_code(text) if path.suffix.lower() == ".ipynb" else text
        if code is None or not code.strip():
            continue
        part = f"# file: {path.relative_to(folder).as_posix()}\n{code.rstrip()}\n"
        size += len(part.encode())
        if size > MAX_CODE_BYTES:
            break
        parts.append(part)
    return "\n".join(parts) if parts else None


def _notebook_code(text: str) -> str | None:
    """A notebook's code cells, one after another (nbformat 4's JSON, read without
    validation: only the code is wanted, and a notebook the harness refuses is still code)."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        return None
    sources = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        sources.append("".join(map(str, source)) if isinstance(source, list) else str(source))
    return "\n\n".join(sources)
