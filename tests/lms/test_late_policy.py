"""Late days: a rubric's late policy, submission times from the LMS, and their marks."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import shutil
from pathlib import Path

import pytest

from grader._yaml import parse_model
from grader.errors import SpecError
from grader.journeys import grade
from grader.lms import read_submission_times
from grader.rubric import LatePolicy, ManualMarks, Rubric, score
from tests.conftest import EXAMPLES, replaying

UTC = dt.UTC
DEADLINE = dt.datetime(2026, 12, 1, 23, 59, tzinfo=UTC)
POLICY = LatePolicy(deadline=DEADLINE, grace_minutes=15, points_per_day=10, max_days=3)


@pytest.mark.parametrize(
    ("after_deadline", "days"),
    [
        (dt.timedelta(minutes=-5), 0),
        (dt.timedelta(minutes=15), 0),  # the end of the grace period is still on time
        (dt.timedelta(minutes=16), 1),
        (dt.timedelta(days=1, minutes=15), 1),
        (dt.timedelta(days=1, minutes=16), 2),
    ],
)
def test_days_late_count_started_days_after_the_grace(after_deadline, days):
    assert POLICY.days_late(DEADLINE + after_deadline) == days


def test_a_time_in_another_zone_is_compared_as_the_same_instant():
    new_york = dt.timezone(dt.timedelta(hours=-5))
    assert POLICY.days_late(dt.datetime(2026, 12, 1, 19, 10, tzinfo=new_york)) == 0
    assert POLICY.days_late(dt.datetime(2026, 12, 1, 19, 30, tzinfo=new_york)) == 1


def rubric_with(policy: LatePolicy | None, task) -> Rubric:
    return task.rubric.model_copy(update={"late_policy": policy})


def late_mark(marks):
    return next(m for m in marks.marks if m.id == "late")


def test_a_late_submission_loses_points_per_started_day(task):
    rubric = rubric_with(POLICY, task)
    on_time = score(
        rubric, metrics=None, failure_reason="x", cpu_time_s=None,
        manual=ManualMarks({"writeup": 20}), submitted_at=DEADLINE,
    )  # fmt: skip
    late = score(
        rubric, metrics=None, failure_reason="x", cpu_time_s=None,
        manual=ManualMarks({"writeup": 20}), submitted_at=DEADLINE + dt.timedelta(hours=30),
    )  # fmt: skip
    assert on_time.total == 20 and late_mark(on_time).points == 0
    assert "on time" in late_mark(on_time).explanation
    assert late.total == 0 and late_mark(late).points == -20
    assert "2 started day(s)" in late_mark(late).explanation
    assert "2 x 10 = -20 points" in late_mark(late).explanation


def test_later_than_the_policy_allows_earns_nothing(task):
    marks = score(
        rubric_with(POLICY, task), metrics=None, failure_reason="x", cpu_time_s=None,
        manual=ManualMarks({"writeup": 20}), submitted_at=DEADLINE + dt.timedelta(days=4),
    )  # fmt: skip
    assert marks.total == 0
    assert "later than the policy's 3 days, so no marks" in late_mark(marks).explanation


def test_an_unknown_submission_time_is_said_not_guessed(task):
    marks = score(
        rubric_with(POLICY, task), metrics=None, failure_reason="x", cpu_time_s=None,
        manual=ManualMarks({"writeup": 20}),
    )  # fmt: skip
    assert marks.total == 20
    assert "no submission time" in late_mark(marks).explanation


def test_no_policy_no_late_mark(task):
    marks = score(task.rubric, metrics=None, failure_reason="x", cpu_time_s=None)
    assert all(m.id != "late" for m in marks.marks)
    assert task.rubric.penalty_ids == [p.id for p in task.rubric.penalties]


def test_a_deadline_without_an_offset_is_refused_naming_the_field(task, tmp_path):
    document = task.rubric.model_dump(mode="json")
    document["late_policy"] = {"deadline": "2026-12-01T23:59:00", "points_per_day": 10}
    path = tmp_path / "rubric.yaml"
    with pytest.raises(SpecError) as raised:
        parse_model(Rubric, document, path)
    assert "late_policy" in str(raised.value) and "UTC offset" in str(raised.value)
    assert "rubric.yaml" in str(raised.value)


def write_times(path: Path, rows: list[tuple[str, str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student_id", "submitted_at"])
    writer.writerows(rows)
    path.write_text(buffer.getvalue())
    return path


def test_submission_times_are_read_with_their_offsets(tmp_path):
    path = write_times(
        tmp_path / "times.csv",
        [("ada", "2026-12-01T23:00:00+00:00"), ("bob", "2026-12-02T10:00:00Z")],
    )
    assert read_submission_times(path) == {
        "ada": dt.datetime(2026, 12, 1, 23, 0, tzinfo=UTC),
        "bob": dt.datetime(2026, 12, 2, 10, 0, tzinfo=UTC),
    }


def test_bad_submission_times_name_the_row_and_column(tmp_path):
    path = write_times(
        tmp_path / "times.csv",
        [("ada", "2026-12-01 23:00"), ("bob", "yesterday"), ("ada", "2026-12-01T23:00Z")],
    )
    with pytest.raises(SpecError) as raised:
        read_submission_times(path)
    message = str(raised.value)
    assert "row 2, column submitted_at" in message and "no UTC offset" in message
    assert "row 3, column submitted_at" in message and "not an ISO 8601 time" in message
    assert "row 4, column student_id: 'ada' is already on row 2" in message
    (tmp_path / "bad.csv").write_text("student,time\nada,2026-12-01T23:00Z\n")
    with pytest.raises(SpecError, match="submitted_at"):
        read_submission_times(tmp_path / "bad.csv")


def test_a_batch_applies_the_policy_and_re_marks_when_the_times_change(task, tmp_path):
    late_task = dataclasses.replace(task, rubric=rubric_with(POLICY, task))
    submissions = tmp_path / "class"
    for student in ("ada", "bob", "cy"):
        shutil.copytree(EXAMPLES / "weak", submissions / student)
    times = write_times(
        tmp_path / "times.csv",
        [("ada", "2026-12-01T20:00:00+00:00"), ("bob", "2026-12-03T08:00:00+00:00")],
    )
    out = tmp_path / "out"

    def run() -> tuple[object, dict[str, dict[str, str]]]:
        result = grade(
            submissions, late_task, backend=replaying(),
            out=out, submission_times=times,
        )  # fmt: skip
        rows = csv.DictReader(io.StringIO((out / "gradebook.csv").read_text()))
        return result, {row["student_id"]: row for row in rows}

    result, book = run()
    assert book["ada"]["late"] == "0" and book["bob"]["late"] == "-20"
    assert float(book["ada"]["total"]) - float(book["bob"]["total"]) == 20
    assert book["cy"]["late"] == "0"
    assert any("no time for student 'cy'" in w for w in result.warnings)

    write_times(times, [("ada", "2026-12-01T20:00:00+00:00"), ("bob", "2026-12-01T21:00Z")])
    result, book = run()
    assert book["bob"]["late"] == "0" and book["bob"]["total"] == book["ada"]["total"]
    assert set(result.reused) == {"ada", "bob", "cy"}  # nothing ran again
    assert result.remarked == ("bob",)
    report = (out / "reports" / "bob.html").read_text()
    assert "on time" in report
