"""The results store: one SQLite database per output folder.

Each evaluation is written in one transaction (WAL journal), so a grader that dies mid-batch
leaves every finished submission intact and no half-written one.  The gradebook is derived
from the store, never kept beside it.

Besides the tables a marker can query (submissions, runs, metrics, marks), each run keeps
its whole evaluation as a compressed JSON document, so a later batch can reuse a run whose
submission and grading setup are unchanged (:class:`RunKey`) and still print, report and
re-mark it exactly as when it was graded.

Schema history (``meta.schema_version``; an older store is migrated when opened):

1. submissions, runs, metrics, marks.
2. ``runs.sandbox`` (the sandbox a run used: backend name, and the image id for docker) and
   ``run_documents`` (the evaluation document and a notebook submission's executed notebook).
3. The evaluation document keeps what the output kind computed besides the metrics as
   ``kind_results``, ``{"kind": <output kind>, "value": ...}``, in place of the fields
   ``curves``, ``classes``, ``structures`` and ``worst_cases``; stored documents are rewritten.
4. The marker's comments: ``marks.comment`` (on a criterion) and ``runs.comment`` (general);
   ``students``: who the class is (names and emails from the roster or the LMS download,
   whether the roster lists them, whether their newest hand-in was late).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import math
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pydantic

from grader.errors import MedgradeError
from grader.evaluation import Evaluation
from grader.kinds import output_kind, output_kind_of_results
from grader.rubric import Marks

SCHEMA_VERSION = 4
#: Version 1, as first released; every store starts here and is migrated up.
_SCHEMA_V1 = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS submissions (
        id INTEGER PRIMARY KEY,
        student_id TEXT NOT NULL,
        sha256 TEXT,
        path TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY,
        submission_id INTEGER NOT NULL REFERENCES submissions(id),
        task_id TEXT NOT NULL,
        task_version TEXT NOT NULL,
        split TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('graded', 'failed')),
        failure_kind TEXT,
        failure_message TEXT,
        backend TEXT,
        wall_time_s REAL,
        peak_memory_mb REAL,
        total REAL NOT NULL,
        max_points REAL NOT NULL,
        data_sha256 TEXT NOT NULL,
        split_sha256 TEXT NOT NULL,
        medgrade_version TEXT NOT NULL,
        created_at TEXT NOT NULL,
        report_path TEXT,
        record_json TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        name TEXT NOT NULL,
        value REAL,
        ci_low REAL,
        ci_high REAL,
        method TEXT NOT NULL,
        n INTEGER NOT NULL,
        reason TEXT,
        PRIMARY KEY (run_id, name)
    )""",
    """CREATE TABLE IF NOT EXISTS marks (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        criterion_id TEXT NOT NULL,
        title TEXT NOT NULL,
        status TEXT NOT NULL,
        points REAL,
        max_points REAL NOT NULL,
        explanation TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (run_id, criterion_id)
    )""",
    "CREATE INDEX IF NOT EXISTS runs_by_task ON runs (task_id, split, submission_id)",
)


def _documents_with_kind_results(connection: sqlite3.Connection) -> None:
    """Version 3: each stored document's kind-specific fields become its ``kind_results``."""
    rows = connection.execute("SELECT run_id, evaluation FROM run_documents").fetchall()
    for run_id, blob in rows:
        try:
            document = json.loads(_decompress(blob))
        except (zlib.error, UnicodeDecodeError, ValueError):
            continue  # unreadable before and after: its run is graded again when reused
        if not isinstance(document, dict):
            continue
        document["kind_results"] = _kind_results_of_version_2(document)
        connection.execute(
            "UPDATE run_documents SET evaluation = ? WHERE run_id = ?",
            (_compress(json.dumps(document, separators=(",", ":"))), run_id),
        )


def _kind_results_of_version_2(document: dict[str, Any]) -> dict[str, Any] | None:
    curves, classes = document.pop("curves", None), document.pop("classes", None)
    structures = document.pop("structures", None) or []
    worst_cases = document.pop("worst_cases", None) or []
    if curves is not None:
        return {"kind": "binary_probability", "value": curves}
    if classes is not None:
        return {"kind": "class_probabilities", "value": classes}
    if structures:
        return {
            "kind": "label_map",
            "value": {"structures": structures, "worst_cases": worst_cases},
        }
    return None


#: What brings a store from the previous version to each version: SQL statements, or a
#: function of the connection where documents are rewritten.
_MIGRATIONS: dict[int, tuple[str | Callable[[sqlite3.Connection], None], ...]] = {
    2: (
        "ALTER TABLE runs ADD COLUMN sandbox TEXT",
        """CREATE TABLE run_documents (
            run_id INTEGER PRIMARY KEY REFERENCES runs(id),
            evaluation BLOB NOT NULL,
            executed_notebook BLOB
        )""",
    ),
    3: (_documents_with_kind_results,),
    4: (
        "ALTER TABLE marks ADD COLUMN comment TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE runs ADD COLUMN comment TEXT NOT NULL DEFAULT ''",
        """CREATE TABLE students (
            student_id TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            email TEXT NOT NULL DEFAULT '',
            enrolled INTEGER NOT NULL DEFAULT 0,
            late INTEGER NOT NULL DEFAULT 0
        )""",
    ),
}


@dataclass(frozen=True)
class RunKey:
    """What a run's outcome depends on, apart from the rubric and the manual marks.

    Those two are applied again whenever a stored run is reused, so they need no place here.
    ``sandbox`` is the backend's name, with the image id for docker.
    """

    task_id: str
    task_version: str
    split: str
    submission_sha256: str
    data_sha256: str
    split_sha256: str
    sandbox: str


@dataclass(frozen=True)
class StoredMark:
    id: str
    title: str
    #: ``awarded``, ``pending`` or ``penalty``.
    status: str
    points: float | None
    max_points: float
    explanation: str
    #: The marker's comment on the criterion.
    comment: str = ""


@dataclass(frozen=True)
class StoredGrade:
    """A student's newest run on a task, as the store holds it: what gradebooks and the
    class dashboard read."""

    run_id: int
    student_id: str
    status: str
    failure_kind: str | None
    failure_message: str | None
    total: float
    max_points: float
    wall_time_s: float | None
    marks: tuple[StoredMark, ...]
    #: Whether the whole evaluation is stored (:meth:`ResultStore.load_evaluation`).
    has_document: bool
    #: When the run was graded (ISO 8601, UTC).
    created_at: str
    #: The marker's general comment.
    comment: str = ""

    @property
    def pending(self) -> tuple[StoredMark, ...]:
        return tuple(m for m in self.marks if m.status == "pending")

    def mark(self, mark_id: str) -> StoredMark | None:
        return next((m for m in self.marks if m.id == mark_id), None)


def student_label(student_id: str, name: str = "") -> str:
    """How a person reads a student: ``Name (id)``, or the id alone."""
    return f"{name} ({student_id})" if name else student_id


@dataclass(frozen=True)
class ClassMember:
    """A student as the store knows them, beside their runs."""

    student_id: str
    name: str = ""
    email: str = ""
    #: On the roster of the newest batch that had one.
    enrolled: bool = False
    #: Their newest hand-in was late (the LMS said so, or the late policy took points).
    late: bool = False

    @property
    def label(self) -> str:
        return student_label(self.student_id, self.name)


@dataclass(frozen=True)
class StoredRun:
    """The newest stored run of one student on one task version and split."""

    run_id: int
    student_id: str
    #: None when the run cannot say what it depended on: the submission could not be
    #: opened, or the run was stored before schema version 2.
    key: RunKey | None
    failure_kind: str | None
    #: Whether the evaluation document is stored (schema version 2 onwards).
    has_document: bool


class StoredEvaluationError(MedgradeError):
    """A stored evaluation document cannot be turned back into an evaluation (it was
    written by a medgrade whose evaluation had other fields); the run is graded again."""


class ResultStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Transactions are begun and ended explicitly (see _transaction), never implicitly.
        self._connection = sqlite3.connect(
            path, timeout=30, check_same_thread=False, isolation_level=None
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA foreign_keys=ON")
        with self._transaction() as connection:
            self._migrate(connection)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock at once, so two graders opening one store migrate
        # it one after the other instead of failing half-way.
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def _migrate(self, connection: sqlite3.Connection) -> None:
        for statement in _SCHEMA_V1:
            connection.execute(statement)
        connection.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1')")
        (text,) = connection.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        version = int(text)
        if version > SCHEMA_VERSION:
            raise MedgradeError(
                f"{self.path} has schema version {version}, written by a newer medgrade; this "
                f"medgrade reads versions up to {SCHEMA_VERSION}: upgrade medgrade, or grade into "
                "another --out folder"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for step in _MIGRATIONS[target]:
                if callable(step):
                    step(connection)
                else:
                    connection.execute(step)
            connection.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(target),)
            )

    def schema_version(self) -> int:
        (text,) = self._connection.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        return int(text)

    def add(
        self,
        evaluation: Evaluation,
        *,
        sandbox: str | None = None,
        executed_notebook: str | None = None,
    ) -> int:
        """Store one evaluation atomically; returns the run id.

        ``sandbox`` names the sandbox the batch used (see :class:`RunKey`); a run stored
        without it is never reused.  ``executed_notebook`` (default: the evaluation's) is kept
        so a reused notebook submission's graded notebook can be written again.
        """
        e = evaluation
        notebook = executed_notebook if executed_notebook is not None else e.executed_notebook
        document = _document(e)
        with self._transaction() as connection:
            submission_id = connection.execute(
                "INSERT INTO submissions (student_id, sha256, path) VALUES (?, ?, ?)",
                (e.student_id, e.submission_sha256, e.submission_path),
            ).lastrowid
            run = e.run
            run_id = connection.execute(
                """INSERT INTO runs (submission_id, task_id, task_version, split, status, failure_kind,
                   failure_message, backend, wall_time_s, peak_memory_mb, total, max_points,
                   data_sha256, split_sha256, medgrade_version, created_at, report_path, record_json,
                   sandbox, comment)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    submission_id,
                    e.task_id,
                    e.task_version,
                    e.split,
                    e.status,
                    e.failure.kind if e.failure else None,
                    e.failure.message if e.failure else None,
                    run.backend if run else None,
                    run.wall_time_s if run else None,
                    run.peak_memory_mb if run else None,
                    e.marks.total,
                    e.marks.max_points,
                    e.data_sha256,
                    e.split_sha256,
                    e.medgrade_version,
                    e.created_at,
                    e.report_path,
                    json.dumps(run.record) if run else None,
                    sandbox,
                    e.marks.comment,
                ),
            ).lastrowid
            assert run_id is not None
            connection.executemany(
                "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        name,
                        None if math.isnan(r.value) else r.value,
                        r.ci_low,
                        r.ci_high,
                        r.method,
                        r.n,
                        r.reason,
                    )
                    for name, r in e.metrics.items()
                ],
            )
            self._insert_marks(connection, run_id, e.marks)
            if document is not None:
                connection.execute(
                    "INSERT INTO run_documents (run_id, evaluation, executed_notebook) "
                    "VALUES (?, ?, ?)",
                    (run_id, document, None if notebook is None else _compress(notebook)),
                )
        return run_id

    @staticmethod
    def _insert_marks(connection: sqlite3.Connection, run_id: int, marks: Marks) -> None:
        connection.executemany(
            """INSERT INTO marks (run_id, criterion_id, title, status, points, max_points,
               explanation, position, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    run_id,
                    m.id,
                    m.title,
                    m.status,
                    m.points,
                    m.max_points,
                    m.explanation,
                    position,
                    m.comment,
                )
                for position, m in enumerate(marks.marks)
            ],
        )

    def replace_marks(self, run_id: int, evaluation: Evaluation) -> None:
        """Re-mark a stored run atomically: its marks, total and document become
        ``evaluation``'s (the same run, marked again against the current rubric and manual
        marks); its metrics and everything the sandbox produced stay as they are."""
        document = _document(evaluation)
        marks = evaluation.marks
        with self._transaction() as connection:
            updated = connection.execute(
                "UPDATE runs SET total = ?, max_points = ?, report_path = ?, comment = ? "
                "WHERE id = ?",
                (marks.total, marks.max_points, evaluation.report_path, marks.comment, run_id),
            ).rowcount
            if updated != 1:
                raise LookupError(f"no run {run_id} in {self.path}")
            connection.execute("DELETE FROM marks WHERE run_id = ?", (run_id,))
            self._insert_marks(connection, run_id, marks)
            if document is None:
                connection.execute("DELETE FROM run_documents WHERE run_id = ?", (run_id,))
            else:
                connection.execute(
                    "UPDATE run_documents SET evaluation = ? WHERE run_id = ?", (document, run_id)
                )

    def record_class(
        self,
        members: Iterable[ClassMember],
        *,
        roster_given: bool,
    ) -> None:
        """What a batch knows of the class: names and emails (a blank one keeps what is
        stored), lateness; and with ``roster_given``, who is enrolled (everyone else is not)."""
        with self._transaction() as connection:
            if roster_given:
                connection.execute("UPDATE students SET enrolled = 0")
            connection.executemany(
                """INSERT INTO students (student_id, name, email, enrolled, late)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (student_id) DO UPDATE SET
                       name = CASE WHEN excluded.name != '' THEN excluded.name ELSE name END,
                       email = CASE WHEN excluded.email != '' THEN excluded.email ELSE email END,
                       enrolled = CASE WHEN ? THEN excluded.enrolled ELSE enrolled END,
                       late = excluded.late""",
                [
                    (m.student_id, m.name, m.email, int(m.enrolled), int(m.late), roster_given)
                    for m in members
                ],
            )

    def class_members(self) -> dict[str, ClassMember]:
        """Every student the store has heard of, by id."""
        rows = self._connection.execute(
            "SELECT student_id, name, email, enrolled, late FROM students"
        ).fetchall()
        return {
            row[0]: ClassMember(row[0], row[1], row[2], bool(row[3]), bool(row[4])) for row in rows
        }

    def latest_runs(self, task_id: str, task_version: str, split: str) -> list[sqlite3.Row]:
        """The newest run of each student on this task version and split, by student id."""
        self._connection.row_factory = sqlite3.Row
        return self._connection.execute(
            """SELECT s.student_id, s.sha256 AS submission_sha256, r.*,
                   d.run_id IS NOT NULL AS has_document
               FROM runs r JOIN submissions s ON s.id = r.submission_id
               LEFT JOIN run_documents d ON d.run_id = r.id
               WHERE r.task_id = ? AND r.task_version = ? AND r.split = ? AND r.id = (
                   SELECT MAX(r2.id) FROM runs r2 JOIN submissions s2 ON s2.id = r2.submission_id
                   WHERE s2.student_id = s.student_id AND r2.task_id = r.task_id
                     AND r2.task_version = r.task_version AND r2.split = r.split)
               ORDER BY s.student_id""",
            (task_id, task_version, split),
        ).fetchall()

    def latest_stored_runs(
        self, task_id: str, task_version: str, split: str
    ) -> dict[str, StoredRun]:
        """The newest run of each student on this task version and split, by student id,
        with the :class:`RunKey` it was graded under."""
        stored: dict[str, StoredRun] = {}
        for row in self.latest_runs(task_id, task_version, split):
            key = None
            if row["submission_sha256"] is not None and row["sandbox"] is not None:
                key = RunKey(
                    task_id=row["task_id"],
                    task_version=row["task_version"],
                    split=row["split"],
                    submission_sha256=row["submission_sha256"],
                    data_sha256=row["data_sha256"],
                    split_sha256=row["split_sha256"],
                    sandbox=row["sandbox"],
                )
            stored[row["student_id"]] = StoredRun(
                run_id=row["id"],
                student_id=row["student_id"],
                key=key,
                failure_kind=row["failure_kind"],
                has_document=bool(row["has_document"]),
            )
        return stored

    def marks_of(self, run_id: int) -> list[sqlite3.Row]:
        self._connection.row_factory = sqlite3.Row
        return self._connection.execute(
            "SELECT * FROM marks WHERE run_id = ? ORDER BY position", (run_id,)
        ).fetchall()

    def latest_grades(self, task_id: str, task_version: str, split: str) -> list[StoredGrade]:
        """Every student's newest run on this task version and split, with its marks, by
        student id."""
        return [
            StoredGrade(
                run_id=run["id"],
                student_id=run["student_id"],
                status=run["status"],
                failure_kind=run["failure_kind"],
                failure_message=run["failure_message"],
                total=run["total"],
                max_points=run["max_points"],
                wall_time_s=run["wall_time_s"],
                marks=tuple(
                    StoredMark(
                        m["criterion_id"],
                        m["title"],
                        m["status"],
                        m["points"],
                        m["max_points"],
                        m["explanation"],
                        m["comment"],
                    )
                    for m in self.marks_of(run["id"])
                ),
                has_document=bool(run["has_document"]),
                created_at=run["created_at"],
                comment=run["comment"],
            )
            for run in self.latest_runs(task_id, task_version, split)
        ]

    def load_evaluation(self, run_id: int) -> Evaluation:
        """A stored run's evaluation, as it was when stored (with its executed notebook).

        Safe to call from any thread: it reads through a connection of its own, so workers
        can bring back stored runs while the batch's thread writes new ones.
        """
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            row = connection.execute(
                "SELECT evaluation, executed_notebook FROM run_documents WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        finally:
            connection.close()
        if row is None:
            raise StoredEvaluationError(f"run {run_id} has no stored evaluation in {self.path}")
        document, notebook = row
        evaluation = decode_evaluation(_decompress(document))
        return dataclasses.replace(
            evaluation, executed_notebook=None if notebook is None else _decompress(notebook)
        )


def _document(evaluation: Evaluation) -> bytes | None:
    """The stored document of ``evaluation``, or None for one holding a value JSON cannot
    keep: its run is stored all the same (metrics, marks), only never reused."""
    try:
        return _compress(encode_evaluation(evaluation))
    except (TypeError, ValueError):
        return None


def _compress(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"))


def _decompress(blob: bytes) -> str:
    return zlib.decompress(blob).decode("utf-8")


# --- The evaluation document ----------------------------------------------------------------
#
# An Evaluation is a tree of frozen dataclasses, tuples, dicts and plain values.  It is written
# as JSON field by field and read back by pydantic, guided by the dataclasses' own type hints,
# so the document follows the evaluation's fields as they evolve, and a document that no longer
# fits them (an unknown or missing field, a value of the wrong type, one the dataclass's own
# checks refuse) is refused, and its run graded again, rather than read wrongly.  JSON keeps
# floats exactly (NaN included: Python's json writes it and pydantic reads it back), so a
# report rendered from a stored evaluation equals the one rendered when it was graded.


def encode_evaluation(evaluation: Evaluation) -> str:
    """The JSON document of ``evaluation`` (without its executed notebook, stored apart).

    The output kind's results are tagged with the kind's name, which says what type they are
    read back as."""
    plain = _plain(dataclasses.replace(evaluation, executed_notebook=None, kind_results=None))
    assert isinstance(plain, dict)
    results = evaluation.kind_results
    if results is not None:
        plain["kind_results"] = {
            "kind": output_kind_of_results(results).name,
            "value": _plain(results),
        }
    return json.dumps(plain, separators=(",", ":"))


def decode_evaluation(document: str) -> Evaluation:
    """The evaluation ``document`` was written from; raises :class:`StoredEvaluationError`."""
    try:
        # Strict: a number is not read from text, nor a flag from a number.
        evaluation = _evaluation_reader().validate_json(document, strict=True, extra="forbid")
        return dataclasses.replace(evaluation, kind_results=_kind_results(evaluation.kind_results))
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc'])) or 'evaluation'}: {problem['msg']}"
            for problem in error.errors()[:3]
        )
        raise StoredEvaluationError(f"the stored evaluation does not fit: {problems}") from None


def _kind_results(tagged: object) -> object:
    """The output kind's results from their tagged document (read as plain JSON values)."""
    if tagged is None:
        return None
    if not (isinstance(tagged, dict) and set(tagged) == {"kind", "value"}):
        raise StoredEvaluationError("the stored evaluation's kind_results are not tagged")
    try:
        results_type = output_kind(tagged["kind"]).results
    except (TypeError, ValueError) as error:  # a plug-in kind no longer installed
        raise StoredEvaluationError(f"the stored evaluation's kind_results: {error}") from None
    if results_type is None:
        raise StoredEvaluationError(f"output kind {tagged['kind']!r} keeps no results")
    # Back to JSON, so that they are read as strictly as the rest (tuples from arrays).
    return _reader(results_type).validate_json(
        json.dumps(tagged["value"]), strict=True, extra="forbid"
    )


@cache
def _evaluation_reader() -> pydantic.TypeAdapter[Evaluation]:
    # Built once, on first use: the schema is made from every dataclass of the evaluation.
    return pydantic.TypeAdapter(Evaluation)


@cache
def _reader(results_type: type) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(results_type)


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, collections.abc.Mapping):
        if not all(isinstance(key, str) for key in value):
            raise TypeError(f"only text keys can be stored; got {list(value)!r}")
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"a {type(value).__name__} cannot be stored in an evaluation document")
