"""The results store: one SQLite database per output folder.

Each evaluation is written in one transaction (WAL journal), so a grader that dies mid-batch
leaves every finished submission intact.  The gradebook is derived from the store, never
kept beside it.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grader.evaluation import Evaluation

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    student_id TEXT NOT NULL,
    sha256 TEXT,
    path TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
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
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    name TEXT NOT NULL,
    value REAL,
    ci_low REAL,
    ci_high REAL,
    method TEXT NOT NULL,
    n INTEGER NOT NULL,
    reason TEXT,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS marks (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    criterion_id TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    points REAL,
    max_points REAL NOT NULL,
    explanation TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (run_id, criterion_id)
);
CREATE INDEX IF NOT EXISTS runs_by_task ON runs (task_id, split, submission_id);
"""


class ResultStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA foreign_keys=ON")
        with self._transaction() as connection:
            connection.executescript(_SCHEMA)
            connection.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connection:
            yield self._connection

    def add(self, evaluation: Evaluation) -> int:
        """Store one evaluation atomically; returns the run id."""
        e = evaluation
        with self._transaction() as connection:
            submission_id = connection.execute(
                "INSERT INTO submissions (student_id, sha256, path) VALUES (?, ?, ?)",
                (e.student_id, e.submission_sha256, e.submission_path),
            ).lastrowid
            run = e.run
            run_id = connection.execute(
                """INSERT INTO runs (submission_id, task_id, task_version, split, status, failure_kind,
                   failure_message, backend, wall_time_s, peak_memory_mb, total, max_points,
                   data_sha256, split_sha256, medgrade_version, created_at, report_path, record_json)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
            connection.executemany(
                "INSERT INTO marks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
                    )
                    for position, m in enumerate(e.marks.marks)
                ],
            )
        return run_id

    def latest_runs(self, task_id: str, task_version: str, split: str) -> list[sqlite3.Row]:
        """The newest run of each student on this task version and split, by student id."""
        self._connection.row_factory = sqlite3.Row
        return self._connection.execute(
            """SELECT s.student_id, r.* FROM runs r JOIN submissions s ON s.id = r.submission_id
               WHERE r.task_id = ? AND r.task_version = ? AND r.split = ? AND r.id = (
                   SELECT MAX(r2.id) FROM runs r2 JOIN submissions s2 ON s2.id = r2.submission_id
                   WHERE s2.student_id = s.student_id AND r2.task_id = r.task_id
                     AND r2.task_version = r.task_version AND r2.split = r.split)
               ORDER BY s.student_id""",
            (task_id, task_version, split),
        ).fetchall()

    def marks_of(self, run_id: int) -> list[sqlite3.Row]:
        self._connection.row_factory = sqlite3.Row
        return self._connection.execute(
            "SELECT * FROM marks WHERE run_id = ? ORDER BY position", (run_id,)
        ).fetchall()
