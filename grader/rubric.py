"""Rubrics: criteria with points, automatic (from a metric) or manual (from the marker).

An automatic criterion maps a metric to points, either linearly between a *floor* (what a
null model scores: 0 points) and a *target* (what the reference implementation scores: full
points), or by bands.  Every mark carries the computation that produced it, so a student
can redo it by hand.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from grader._yaml import parse_model, read_yaml_mapping
from grader.metrics import METRICS, MetricResult


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinearScale(_Strict):
    type: Literal["linear"]
    floor: float = Field(description="Metric value worth 0 points (a null model's score).")
    target: float = Field(description="Metric value worth full points (the reference's score).")

    @model_validator(mode="after")
    def _distinct(self) -> LinearScale:
        if self.floor == self.target:
            raise ValueError("floor and target must differ")
        return self


class Band(_Strict):
    at: float = Field(description="Metric value to reach (>= if higher is better, else <=).")
    points: Annotated[float, Field(ge=0)]


class BandScale(_Strict):
    type: Literal["bands"]
    bands: list[Band] = Field(min_length=1)


class AutomaticCriterion(_Strict):
    kind: Literal["automatic"]
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    points: Annotated[float, Field(gt=0)]
    metric: str = Field(description="A metric the task computes, e.g. 'roc_auc'.")
    scale: Annotated[LinearScale | BandScale, Field(discriminator="type")]
    undefined_points: Annotated[float, Field(ge=0)] = Field(
        default=0, description="Points when the metric is undefined (NaN) on the data."
    )

    @model_validator(mode="after")
    def _consistent(self) -> AutomaticCriterion:
        info = METRICS.get(self.metric)
        if info is None:
            raise ValueError(f"unknown metric {self.metric!r}; known: {', '.join(METRICS)}")
        if isinstance(self.scale, LinearScale):
            better = self.scale.target > self.scale.floor
            if better != info.higher_is_better:
                direction = "higher" if info.higher_is_better else "lower"
                raise ValueError(
                    f"{self.metric} is better when {direction}, so its target must be "
                    f"{direction} than its floor (floor {self.scale.floor}, target {self.scale.target})"
                )
        else:
            too_many = [b.points for b in self.scale.bands if b.points > self.points]
            if too_many:
                raise ValueError(f"band points {too_many} exceed the criterion's {self.points}")
        if self.undefined_points > self.points:
            raise ValueError("undefined_points exceeds the criterion's points")
        return self


class ManualCriterion(_Strict):
    kind: Literal["manual"]
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    points: Annotated[float, Field(gt=0)]
    guidance: str = Field(default="", description="What the marker looks for.")


class Penalty(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    points: Annotated[float, Field(gt=0)] = Field(description="Points deducted.")
    cpu_time_over_s: Annotated[float, Field(gt=0)] = Field(
        description="Deduct when the run's CPU time (every process of the submission's, "
        "counted by the sandbox's supervisor; see the task's limits) exceeds this."
    )

    @model_validator(mode="before")
    @classmethod
    def _wall_time_is_gone(cls, data: Any) -> Any:
        if isinstance(data, dict) and "run_time_over_s" in data:
            raise ValueError(
                "run_time_over_s is gone: it counted wall time, which depends on how busy the "
                f"machine is; write cpu_time_over_s: {data['run_time_over_s']} (CPU seconds of "
                "the submission's processes) instead"
            )
        return data


class LatePolicy(_Strict):
    """Points off for a submission handed in after the deadline (times from the LMS)."""

    deadline: dt.datetime = Field(
        description="The deadline, ISO 8601 with a UTC offset, e.g. 2026-12-01T23:59:00+00:00."
    )
    grace_minutes: Annotated[float, Field(ge=0)] = Field(
        default=0, description="Minutes after the deadline that still count as on time."
    )
    points_per_day: Annotated[float, Field(gt=0)] = Field(
        description="Points deducted per started day (24 h) past the deadline and grace."
    )
    max_days: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Later than this many days, the submission earns no marks at all.",
    )

    @model_validator(mode="after")
    def _deadline_has_an_offset(self) -> LatePolicy:
        if self.deadline.utcoffset() is None:
            raise ValueError(
                f"deadline {self.deadline.isoformat()} has no UTC offset; write it as "
                f"{self.deadline.isoformat()}+00:00 (or your time zone's offset)"
            )
        return self

    def days_late(self, submitted_at: dt.datetime) -> int:
        """Started days past the deadline and grace (0 when on time)."""
        over = submitted_at - self.deadline - dt.timedelta(minutes=self.grace_minutes)
        return max(0, math.ceil(over / dt.timedelta(days=1)))


#: The id of the late penalty in marks and gradebooks.
LATE_PENALTY_ID = "late"
#: Columns of the gradebook and the manual-marks sheet that a criterion's own would overwrite.
RESERVED_IDS = frozenset(
    {"student_id", "name", "handed_in_late", "status", "failure_kind", "total", "max", "pending"}
)


class Rubric(_Strict):
    name: str
    title: str
    criteria: list[Annotated[AutomaticCriterion | ManualCriterion, Field(discriminator="kind")]] = (
        Field(min_length=1)
    )
    penalties: list[Penalty] = Field(default_factory=list)
    late_policy: LatePolicy | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> Rubric:
        ids = [c.id for c in self.criteria] + self.penalty_ids
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"criterion/penalty ids must be unique; repeated: {duplicates}")
        taken = sorted(
            i for i in ids if i in RESERVED_IDS or i.endswith("_comment") or i == "comment"
        )
        if taken:
            raise ValueError(
                f"criterion/penalty ids {taken} would collide with the gradebook's or the "
                f"manual-marks sheet's own columns ({', '.join(sorted(RESERVED_IDS))}, comment, "
                "<criterion>_comment): choose others"
            )
        return self

    @property
    def penalty_ids(self) -> list[str]:
        """The penalties' ids, the late penalty's last: the gradebook's penalty columns."""
        return [p.id for p in self.penalties] + ([LATE_PENALTY_ID] if self.late_policy else [])

    @property
    def max_points(self) -> float:
        return sum(c.points for c in self.criteria)

    @property
    def manual_criteria(self) -> list[ManualCriterion]:
        return [c for c in self.criteria if isinstance(c, ManualCriterion)]

    @property
    def automatic_criteria(self) -> list[AutomaticCriterion]:
        return [c for c in self.criteria if isinstance(c, AutomaticCriterion)]


def load_rubric(path: Path) -> Rubric:
    """Read and validate a rubric file; errors name the file and the field."""
    return parse_model(Rubric, read_yaml_mapping(path), path)


MarkStatus = Literal["awarded", "pending", "penalty"]


@dataclass(frozen=True)
class Mark:
    """Points for one criterion (or a penalty, with negative points) and how they came about."""

    id: str
    title: str
    status: MarkStatus
    points: float | None
    max_points: float
    explanation: str
    #: The marker's comment on this criterion (manual criteria), for the student.
    comment: str = ""


@dataclass(frozen=True)
class Marks:
    marks: tuple[Mark, ...]
    total: float
    max_points: float
    #: The marker's general comment, for the student.
    comment: str = ""

    @property
    def pending(self) -> list[str]:
        return [m.id for m in self.marks if m.status == "pending"]

    def to_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "max": self.max_points,
            "pending": self.pending,
            "criteria": [
                {
                    "id": m.id,
                    "title": m.title,
                    "status": m.status,
                    "points": m.points,
                    "max": m.max_points,
                    "explanation": m.explanation,
                    "comment": m.comment,
                }
                for m in self.marks
            ],
            "comment": self.comment,
        }


@dataclass(frozen=True)
class ManualMarks:
    """What the marker entered for one student: points and a comment per manual criterion
    (a criterion without points is pending, comment or not), and a general comment."""

    points: Mapping[str, float] = field(default_factory=dict)
    comments: Mapping[str, str] = field(default_factory=dict)
    comment: str = ""


def score(
    rubric: Rubric,
    *,
    metrics: Mapping[str, MetricResult] | None,
    failure_reason: str | None,
    cpu_time_s: float | None,
    manual: ManualMarks | None = None,
    submitted_at: dt.datetime | None = None,
    value_decimals: int = 4,
) -> Marks:
    """Apply ``rubric`` to one run.

    ``metrics`` is None when the run failed; then every automatic criterion earns 0 with
    ``failure_reason`` as the explanation, while manual criteria can still be marked.
    ``manual`` holds the marker's points and comments by criterion id (a criterion without
    points is pending) and their general comment.
    ``submitted_at`` is when the student handed in, for the rubric's late policy.
    Explanations give each metric to ``value_decimals`` decimals (a hidden split's report
    shows fewer: :mod:`grader.disclosure`); the points never depend on it.
    """
    manual = manual or ManualMarks()
    marks: list[Mark] = []
    for criterion in rubric.criteria:
        if isinstance(criterion, ManualCriterion):
            mark = _manual_mark(criterion, manual.points.get(criterion.id))
            marks.append(replace(mark, comment=manual.comments.get(criterion.id, "")))
        elif metrics is None:
            marks.append(
                Mark(
                    criterion.id,
                    criterion.title,
                    "awarded",
                    0.0,
                    criterion.points,
                    f"0 points: {failure_reason or 'the submission failed'}",
                )
            )
        else:
            marks.append(_automatic_mark(criterion, metrics[criterion.metric], value_decimals))
    if metrics is not None and cpu_time_s is not None:
        for penalty in rubric.penalties:
            if cpu_time_s > penalty.cpu_time_over_s:
                marks.append(
                    Mark(
                        penalty.id,
                        penalty.title,
                        "penalty",
                        -penalty.points,
                        0.0,
                        f"CPU time {cpu_time_s:.1f} s > {penalty.cpu_time_over_s:g} s: "
                        f"-{penalty.points:g} points",
                    )
                )
    if rubric.late_policy is not None:
        marks.append(_late_mark(rubric.late_policy, submitted_at, rubric.max_points))
    earned = sum(m.points for m in marks if m.points is not None)
    return Marks(
        tuple(marks),
        total=round(max(0.0, earned), 2),
        max_points=rubric.max_points,
        comment=manual.comment,
    )


def _late_mark(policy: LatePolicy, submitted_at: dt.datetime | None, max_points: float) -> Mark:
    title = "Late submission"
    if submitted_at is None:
        return Mark(
            LATE_PENALTY_ID, title, "penalty", 0.0, 0.0,
            "no submission time for this student (--submission-times): no late penalty applied",
        )  # fmt: skip
    days = policy.days_late(submitted_at)
    handed_in = f"handed in {submitted_at.isoformat(timespec='minutes')}"
    due = f"due {policy.deadline.isoformat(timespec='minutes')}" + (
        f" + {policy.grace_minutes:g} min grace" if policy.grace_minutes else ""
    )
    if days == 0:
        return Mark(LATE_PENALTY_ID, title, "penalty", 0.0, 0.0, f"on time: {handed_in}, {due}")
    if policy.max_days is not None and days > policy.max_days:
        return Mark(
            LATE_PENALTY_ID, title, "penalty", -max_points, 0.0,
            f"{handed_in}, {days} started days after {due}: later than the policy's "
            f"{policy.max_days} days, so no marks",
        )  # fmt: skip
    points = days * policy.points_per_day
    return Mark(
        LATE_PENALTY_ID, title, "penalty", -points, 0.0,
        f"{handed_in}, {days} started day(s) after {due}: {days} x {policy.points_per_day:g} "
        f"= -{points:g} points",
    )  # fmt: skip


def _manual_mark(criterion: ManualCriterion, points: float | None) -> Mark:
    if points is None:
        return Mark(
            criterion.id,
            criterion.title,
            "pending",
            None,
            criterion.points,
            "pending: to be marked by hand (manual marks CSV)",
        )
    return Mark(
        criterion.id,
        criterion.title,
        "awarded",
        points,
        criterion.points,
        f"{points:g} / {criterion.points:g} points, marked by hand",
    )


def _automatic_mark(criterion: AutomaticCriterion, result: MetricResult, decimals: int) -> Mark:
    name, value = result.name, result.value
    shown = f"{value:.{decimals}f}"
    if math.isnan(value):
        return Mark(
            criterion.id,
            criterion.title,
            "awarded",
            criterion.undefined_points,
            criterion.points,
            f"{name} is undefined on this data ({result.reason}): "
            f"{criterion.undefined_points:g} points as the rubric states",
        )
    scale = criterion.scale
    if isinstance(scale, LinearScale):
        fraction = (value - scale.floor) / (scale.target - scale.floor)
        clipped = min(1.0, max(0.0, fraction))
        points = round(criterion.points * clipped, 2)
        explanation = (
            f"{name} = {shown}; linear from floor {scale.floor:g} (0 points) to target "
            f"{scale.target:g} ({criterion.points:g} points)"
            + (
                f": ({shown} - {scale.floor:g}) / ({scale.target:g} - {scale.floor:g}) = "
                f"{fraction:.3f}" + (f", clipped to {clipped:g}" if clipped != fraction else "")
                if decimals >= 4  # a hidden split's report shows no finer figure than points
                else ""
            )
            + f" -> {points:g} / {criterion.points:g}"
        )
        return Mark(criterion.id, criterion.title, "awarded", points, criterion.points, explanation)
    sign = ">=" if result.higher_is_better else "<="
    reached = [
        band
        for band in scale.bands
        if (value >= band.at if result.higher_is_better else value <= band.at)
    ]
    if not reached:
        thresholds = ", ".join(f"{sign} {b.at:g}" for b in scale.bands)
        return Mark(
            criterion.id,
            criterion.title,
            "awarded",
            0.0,
            criterion.points,
            f"{name} = {shown} reaches no band ({thresholds}) -> 0 / {criterion.points:g}",
        )
    best = max(reached, key=lambda band: band.points)
    return Mark(
        criterion.id,
        criterion.title,
        "awarded",
        best.points,
        criterion.points,
        f"{name} = {shown} {sign} {best.at:g} -> {best.points:g} / {criterion.points:g}",
    )
