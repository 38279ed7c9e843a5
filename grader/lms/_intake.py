"""Submissions as learning management systems hand them out: the layout of a bulk download.

Three layouts besides medgrade's own (one folder, ``.zip`` or notebook per student, named by
the student id) are recognised, each from the LMS's own source code:

``canvas``
    "Download Submissions" (Canvas ``lib/content_zipper.rb``), unzipped: one flat folder of
    files ``<name>_<userid>_<attachmentid>_<original file name>``, ``<name>_LATE_<userid>_...``
    for a late submission, ``<name>_<userid>_text.html`` for a text entry and
    ``..._link.html`` for a URL.  ``<name>`` is the lower-cased sortable name stripped of
    everything but letters, digits and ``_``; with anonymous grading it is absent and the
    user id reads ``anon_<anonymous id>``.  Canvas renames a re-submitted file by putting
    ``-1``, ``-2``... before its first dot (instructure/canvas-lms#606, #2310).
``moodle``
    "Download all submissions" (Moodle ``mod/assign/locallib.php``, the default since 3.1):
    one folder per student and submission plugin, ``<Full Name>_<participantid>_
    assignsubmission_file_`` with the student's files inside (their own sub-folders kept).
    ``<Full Name>`` has ``_`` replaced by spaces and reads ``Participant`` under anonymous
    marking; a group submission prefixes the group name and ``-``.
``moodle-files``
    The same download as flat files (Moodle before 3.1, or "Download submissions in folders"
    unticked): ``<Full Name>_<participantid>_assignsubmission_file_<file name>``.

The student id becomes the LMS's own id for the student, the Canvas user id or the Moodle
participant id, which is what the gradebook exports (:mod:`grader.lms`) are matched on.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.errors import SubmissionError
from grader.submission import (
    IGNORED_NAMES,
    Submission,
    student_id_from_name,
    unusable_student_id,
)

Layout = Literal["folders", "canvas", "moodle", "moodle-files"]

#: Canvas's prefix: the name (absent under anonymous grading), ``LATE`` for a late
#: submission, the user id.  The name holds no ``_<digits>_`` (Canvas folds it away), so the
#: first ``_<digits>_`` after it is the user id.
_CANVAS_STUDENT = r"^(?:(?P<name>.*?)_)??(?P<late>LATE_)?(?P<user>\d+|anon_[A-Za-z0-9]+)_"
#: A file the student uploaded: the attachment id, then the file's own name.
_CANVAS_UPLOAD = re.compile(_CANVAS_STUDENT + r"(?P<attachment>\d+)_(?P<file>.+)$")
#: A text entry or a URL, which Canvas writes as an HTML page.
_CANVAS_ONLINE = re.compile(_CANVAS_STUDENT + r"(?P<kind>text|link)\.html$")
#: ``-1`` before the first dot of a re-submitted ``.py`` file.
_CANVAS_RESUBMITTED = re.compile(r"^(?P<stem>[^.]+)-\d+(?P<suffix>\.py)$")
#: Moodle's prefix: full name (no ``_``), participant id, then the submission plugin.
_MOODLE = r"^(?P<name>[^_]+)_(?P<user>\d+)_assignsubmission_(?P<plugin>[a-z0-9]+)_"
_MOODLE_FOLDER = re.compile(_MOODLE + "$")
_MOODLE_FILE = re.compile(_MOODLE + r"(?P<file>.+)$")

_LAYOUT_NAMES: dict[Layout, str] = {
    "folders": "one folder or zip per student",
    "canvas": "a Canvas submissions download",
    "moodle": "a Moodle submissions download",
    "moodle-files": "a Moodle submissions download (flat files)",
}


@dataclass(frozen=True)
class DownloadedSubmission:
    """One student's part of a download: an entry used as it is, or files to gather."""

    student_id: str
    #: The student's name as the download gives it (Canvas: lower case, run together).
    name: str | None
    late: bool
    #: The folder, zip or notebook to grade as it is; None when ``files`` are gathered.
    path: Path | None = None
    #: The name each file takes in the gathered submission, and where it lies now.
    files: tuple[tuple[str, Path], ...] = ()

    def submission(self, staging: Path | None) -> Submission:
        """The submission to grade, gathering its files into ``staging/<student id>/``."""
        if self.path is not None:
            return Submission(self.student_id, self.path, name=self.name, late=self.late)
        if staging is None:
            raise SubmissionError(
                f"the files of student {self.student_id!r} must first be gathered into one "
                "folder: pass staging=FOLDER"
            )
        folder = staging / self.student_id
        folder.mkdir(parents=True)
        for name, source in self.files:
            shutil.copyfile(source, folder / name)
        return Submission(self.student_id, folder, name=self.name, late=self.late)


@dataclass(frozen=True)
class Download:
    """What a folder of submissions holds, read without copying anything."""

    directory: Path
    layout: Layout
    #: In the folder's order (by student id for an LMS download).
    students: tuple[DownloadedSubmission, ...]
    #: What the marker should know about the intake (files renamed, entries left out).
    notes: tuple[str, ...] = ()

    @property
    def student_ids(self) -> list[str]:
        return [s.student_id for s in self.students]

    def submissions(self, staging: Path | None = None) -> list[Submission]:
        """One submission per student.  Students whose files must be gathered (Canvas, flat
        Moodle) get a folder of their own in ``staging``."""
        return [s.submission(staging) for s in self.students]

    def describe(self) -> str:
        return f"{self.directory}: {_LAYOUT_NAMES[self.layout]}, {len(self.students)} student(s)"


def read_download(directory: Path) -> Download:
    """Recognise the layout of ``directory`` and group its entries by student.

    A folder whose entries all follow one LMS's naming is that LMS's download; one where
    most do is refused with the entries that do not (a stray file would otherwise become a
    student); anything else is medgrade's own layout.
    """
    if not directory.is_dir():
        raise SubmissionError(f"{directory} is not a folder of submissions")
    entries = [
        entry
        for entry in sorted(directory.iterdir())
        if not entry.name.startswith(".") and entry.name not in IGNORED_NAMES
    ]
    links = [entry.name for entry in entries if entry.is_symlink()]
    if links:
        raise SubmissionError(
            f"{directory}: {', '.join(links[:5])} "
            f"{'is a symbolic link' if len(links) == 1 else 'are symbolic links'}; medgrade "
            "grades only what lies in the class folder itself: copy the submissions in"
        )
    for layout, reader in _LMS_READERS.items():
        matching = [entry for entry in entries if reader.matches(entry)]
        if not matching:
            continue
        if len(matching) == len(entries):
            return _checked(reader.read(directory, entries))
        if 2 * len(matching) > len(entries):
            strays = [entry.name for entry in entries if entry not in matching]
            shown = ", ".join(strays[:5]) + (
                f" and {len(strays) - 5} more" if len(strays) > 5 else ""
            )
            raise SubmissionError(
                f"{directory} looks like {_LAYOUT_NAMES[layout]}, but {len(strays)} of its "
                f"entries are not named as that LMS names them: {shown}; move them out of the "
                "folder"
            )
    return _checked(_read_folders(directory, entries))


def discover_submissions(directory: Path, *, staging: Path | None = None) -> list[Submission]:
    """One submission per student in ``directory``.

    In medgrade's own layout every entry is one student's submission, named by the student
    id: folders and ``.zip`` files are the expected forms; any other file is still a
    student's submission (a ``.tar.gz``, a loose ``.py``) and becomes a graded
    ``invalid_submission`` rather than silently missing from the gradebook.

    A Canvas or Moodle bulk download is recognised by its file names (see
    :func:`read_download`): the student id is the LMS's id for the student, and
    a student's several files are gathered into a folder of their own in ``staging``.
    """
    return read_download(directory).submissions(staging)


def _checked(download: Download) -> Download:
    """``download``, once every student id it gives can name the student's files."""
    for student in download.students:
        problem = unusable_student_id(student.student_id)
        if problem is not None:
            raise SubmissionError(
                f"{download.directory}: the student id {student.student_id!r} cannot name a "
                f"student because {problem}: rename the entry to the student's id"
            )
    return download


def _read_folders(directory: Path, entries: Iterable[Path]) -> Download:
    """medgrade's own layout: every entry is one student's submission, named by its id.

    Folders and ``.zip`` files are the expected forms; any other file is still a student's
    submission (a ``.tar.gz``, a loose ``.py``) and becomes a graded ``invalid_submission``
    rather than silently missing from the gradebook.
    """
    found: dict[str, Path] = {}
    for entry in entries:
        if not (entry.is_dir() or entry.is_file()):
            continue
        student_id = student_id_from_name(entry.name)
        if student_id in found:
            raise SubmissionError(
                f"two submissions for student {student_id!r}: {found[student_id].name} "
                f"and {entry.name}"
            )
        found[student_id] = entry
    students = tuple(
        DownloadedSubmission(student_id, None, False, path=entry)
        for student_id, entry in found.items()
    )
    return Download(directory, "folders", students)


class _Gathered:
    """One student's files while a download is read."""

    def __init__(self, student_id: str, name: str | None) -> None:
        self.student_id = student_id
        self.name = name
        self.late = False
        self.files: dict[str, Path] = {}

    def add(self, name: str, source: Path, *, fallback: str) -> str | None:
        """Add ``source`` as ``name``, or as ``fallback`` when the name is taken (or names
        no file of its own, like ``..``); returns a note when it had to fall back."""
        if name not in self.files and name not in {"", ".", ".."} and "/" not in name:
            self.files[name] = source
            return None
        self.files[fallback] = source
        return (
            f"student {self.student_id}: {source.name} is kept as {fallback}, as {name!r} "
            "cannot be its name"
        )

    def downloaded(self) -> DownloadedSubmission:
        """A lone zip is graded as it is (a zip is a submission); anything else is gathered
        into a folder under the names the student gave the files."""
        if len(self.files) == 1:
            (name, source), *_ = self.files.items()
            if name.lower().endswith(".zip"):
                return DownloadedSubmission(self.student_id, self.name, self.late, path=source)
        return DownloadedSubmission(
            self.student_id, self.name, self.late, files=tuple(sorted(self.files.items()))
        )


def _canvas_match(name: str) -> re.Match[str] | None:
    return _CANVAS_UPLOAD.match(name) or _CANVAS_ONLINE.match(name)


def _read_canvas(directory: Path, entries: Iterable[Path]) -> Download:
    students: dict[str, _Gathered] = {}
    notes: list[str] = []
    for entry in entries:
        match = _canvas_match(entry.name)
        assert match is not None  # the reader matched every entry before reading
        fields = match.groupdict()
        student = students.setdefault(
            fields["user"], _Gathered(fields["user"], fields["name"] or None)
        )
        student.late = student.late or fields["late"] is not None
        if fields.get("kind") is not None:
            name, fallback = f"{fields['kind']}.html", f"{fields['kind']}-{entry.name}"
        else:
            name, fallback = fields["file"], f"{fields['attachment']}_{fields['file']}"
        note = student.add(name, entry, fallback=fallback)
        if note is not None:
            notes.append(note)
    for student in students.values():
        notes.extend(_restore_resubmitted_names(student))
    late = sorted(s.student_id for s in students.values() if s.late)
    if late:
        notes.append(
            f"Canvas marks {len(late)} submission(s) late: {', '.join(late)}; medgrade deducts "
            "nothing for lateness (the download carries no submission times)"
        )
    return Download(
        directory,
        "canvas",
        tuple(students[s].downloaded() for s in sorted(students)),
        tuple(notes),
    )


def _restore_resubmitted_names(student: _Gathered) -> list[str]:
    """Undo Canvas's ``-1`` in re-submitted ``.py`` files (``predict-1.py``).

    Only Python files: a name with ``-`` can never be imported as a module, so the original
    name is certain, while ``resnet-18.pt`` may well be what the student called a weight file.
    """
    notes = []
    for name in sorted(student.files):
        match = _CANVAS_RESUBMITTED.match(name)
        if match is None:
            continue
        original = match["stem"] + match["suffix"]
        if original in student.files:
            continue
        student.files[original] = student.files.pop(name)
        notes.append(
            f"student {student.student_id}: {name} renamed back to {original} (Canvas renames "
            "a re-submitted file)"
        )
    return notes


def _read_moodle(directory: Path, entries: Iterable[Path], *, folders: bool) -> Download:
    """Moodle: a folder (or, flat, files) per student and submission plugin.  The file
    plugin's files are the submission; other plugins (online text) count only for a
    student who uploaded no file, who is then graded as an invalid submission rather
    than missing."""
    pattern = _MOODLE_FOLDER if folders else _MOODLE_FILE
    by_plugin: dict[str, dict[str, list[tuple[Path, re.Match[str]]]]] = {}
    names: dict[str, str] = {}
    for entry in entries:
        match = pattern.match(entry.name)
        assert match is not None  # the reader matched every entry before reading
        names[match["user"]] = match["name"]
        parts = by_plugin.setdefault(match["user"], {})
        parts.setdefault(match["plugin"], []).append((entry, match))
    students = []
    left_out = 0
    for student_id in sorted(by_plugin):
        plugins = by_plugin[student_id]
        chosen = "file" if "file" in plugins else sorted(plugins)[0]
        left_out += len(plugins) - 1
        name = names[student_id]
        if folders:
            (folder, _), *_ = plugins[chosen]
            students.append(
                DownloadedSubmission(student_id, name, False, path=_lone_zip_or(folder))
            )
            continue
        student = _Gathered(student_id, name)
        for entry, match in plugins[chosen]:
            student.add(match["file"], entry, fallback=f"{chosen}-{match['file']}")
        students.append(student.downloaded())
    notes = (
        [
            f"left out {left_out} online-text or other non-file part(s) of Moodle submissions; "
            "the uploaded files are graded"
        ]
        if left_out
        else []
    )
    layout: Layout = "moodle" if folders else "moodle-files"
    return Download(directory, layout, tuple(students), tuple(notes))


def _lone_zip_or(folder: Path) -> Path:
    """The zip a student uploaded as their whole submission, else their folder."""
    entries = [
        entry
        for entry in folder.iterdir()
        if not entry.name.startswith(".") and entry.name not in IGNORED_NAMES
    ]
    if len(entries) == 1 and entries[0].is_file() and entries[0].suffix.lower() == ".zip":
        return entries[0]
    return folder


@dataclass(frozen=True)
class _Reader:
    """How one LMS layout is recognised (entry by entry) and read."""

    matches: Callable[[Path], bool]
    read: Callable[[Path, list[Path]], Download]


_LMS_READERS: dict[Layout, _Reader] = {
    "canvas": _Reader(
        matches=lambda entry: entry.is_file() and _canvas_match(entry.name) is not None,
        read=_read_canvas,
    ),
    "moodle": _Reader(
        matches=lambda entry: entry.is_dir() and _MOODLE_FOLDER.match(entry.name) is not None,
        read=lambda directory, entries: _read_moodle(directory, entries, folders=True),
    ),
    "moodle-files": _Reader(
        matches=lambda entry: entry.is_file() and _MOODLE_FILE.match(entry.name) is not None,
        read=lambda directory, entries: _read_moodle(directory, entries, folders=False),
    ),
}
