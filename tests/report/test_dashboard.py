"""The class dashboard: built from the store after a real batch, checked as HTML and in Chromium."""

from __future__ import annotations

import csv
import dataclasses
import re
import statistics
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import numpy as np
import pytest

from grader import journeys
from grader.evaluation import Evaluation
from grader.kinds import LabelMapResults
from grader.metrics import metric_title, segmentation_metrics, subgroup_metrics
from grader.output import OutputFolder
from grader.report import find_chromium, write_class_dashboard
from grader.rubric import BandScale, LinearScale
from grader.store import ResultStore
from grader.submission import Submission
from grader.tasks import Task, load_task
from tests.conftest import EXAMPLES, TASK_ID, replaying
from tests.report.test_report import launch_browser, open_in_browser

#: A student id as an LMS or a hand-made list may give it: markup, quotes, URL syntax.
AWKWARD_ID = '<b>eve & "co" #1?%'
SVG = "{http://www.w3.org/2000/svg}"


@dataclasses.dataclass(frozen=True)
class GradedClass:
    out: Path
    task: Task
    dashboard: Path
    gradebook: list[dict[str, str]]


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> GradedClass:
    """The bundled examples (less the one that sleeps until its time limit) and a crashing
    submission under an awkward id, graded for real; one student's write-up marked."""
    out = tmp_path_factory.mktemp("class") / "grades"
    out.mkdir()
    (out / "manual_marks.csv").write_text("student_id,writeup\nweak,15\n")
    submissions = [s for s in journeys.demo_submissions() if s.student_id != "too-slow"]
    submissions.append(Submission(AWKWARD_ID, EXAMPLES / "crashes"))
    task = load_task(TASK_ID)
    journeys.grade(submissions, task, backend=replaying(), out=out, workers=2)
    with ResultStore(OutputFolder(out).store) as store:
        dashboard = write_class_dashboard(store, task, out)
    with OutputFolder(out).gradebook.open(newline="") as handle:
        gradebook = list(csv.DictReader(handle))
    return GradedClass(out, task, dashboard, gradebook)


class _Page(HTMLParser):
    """Links (with the ids of the elements around them), table cells and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self._open: list[tuple[str, str | None]] = []
        self.links: list[tuple[str, str, set[str]]] = []  # href, text, enclosing ids
        self.tables: dict[str, list[list[str]]] = {}
        self.text: list[str] = []
        self._link: list[str] | None = None
        self._href = ""
        self._cell: list[str] | None = None

    def _ids(self) -> set[str]:
        return {element_id for _, element_id in self._open if element_id}

    def _table(self) -> str | None:
        return next((i for tag, i in reversed(self._open) if tag == "table"), None)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag not in {"meta", "br", "img", "line", "circle", "rect", "path", "polyline"}:
            self._open.append((tag, attributes.get("id")))
        if tag == "a":
            self._link, self._href = [], attributes.get("href") or ""
        elif tag == "tr" and self._table():
            self.tables.setdefault(self._table(), []).append([])
        elif tag in {"td", "th"}:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "a" and self._link is not None:
            self.links.append((self._href, "".join(self._link), self._ids()))
            self._link = None
        elif tag in {"td", "th"} and self._cell is not None and self._table():
            self.tables[self._table()][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        self.text.append(data)
        for sink in (self._link, self._cell):
            if sink is not None:
                sink.append(data)

    @property
    def plain(self) -> str:
        return " ".join("".join(self.text).split())


def read_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def charts_by_title(html: str) -> dict[str, ElementTree.Element]:
    charts = {}
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        root = ElementTree.fromstring(svg)
        charts[root.find(f"{SVG}title").text] = root
    return charts


def series_titles(root: ElementTree.Element, kind: str) -> list[str]:
    return [
        g.find(f"{SVG}title").text
        for g in root.iter(f"{SVG}g")
        if f"series-{kind}" in g.get("class", "").split()
    ]


# --- what the page says -----------------------------------------------------------------


def test_the_summary_agrees_with_the_gradebook(graded_class):
    rows = graded_class.gradebook
    totals = [float(row["total"]) for row in rows]
    text = read_page(graded_class.dashboard).plain
    assert f"{len(rows)} students" in text
    assert f"{sum(r['status'] == 'graded' for r in rows)} graded" in text
    assert f"{sum(r['status'] == 'failed' for r in rows)} failed" in text
    pending = sum(bool(r["pending"]) for r in rows)
    assert 0 < pending < len(rows)  # weak's write-up is marked, no one else's
    assert f"{pending} with manual marks pending" in text
    assert (
        f"mean {statistics.fmean(totals):.1f}, median {statistics.median(totals):g} of 100" in text
    )


def test_every_failure_links_to_its_report_and_ids_are_escaped(graded_class):
    page = read_page(graded_class.dashboard)
    failed = {row["student_id"] for row in graded_class.gradebook if row["status"] == "failed"}
    assert AWKWARD_ID in failed and len(failed) >= 4
    links = [(href, text) for href, text, ids in page.links if "failures" in ids]
    assert {text for _, text in links} == failed
    for href, text in links:
        assert href.startswith("reports/") and "#" not in href and "?" not in href
        report = graded_class.dashboard.parent / unquote(href)
        assert report == graded_class.out / "reports" / f"{text}.html" and report.is_file()
    html = graded_class.dashboard.read_text()
    assert "<b>eve" not in html and "&lt;b&gt;eve &amp; &#34;co&#34; #1?%" in html
    # each kind is explained as the student's report explains it
    assert "crashed (2)" in page.plain and "Your code raised an error" in page.plain


def test_every_student_is_listed_with_a_link_to_their_report(graded_class):
    page = read_page(graded_class.dashboard)
    table = page.tables["students"]
    assert [row[0] for row in table[1:]] == sorted(r["student_id"] for r in graded_class.gradebook)
    linked = {text for _, text, ids in page.links if "students" in ids}
    assert linked == {r["student_id"] for r in graded_class.gradebook}


def test_each_metric_is_drawn_with_the_rubrics_anchors(graded_class):
    task = graded_class.task
    html = graded_class.dashboard.read_text()
    charts = charts_by_title(html)
    graded = sum(r["status"] == "graded" for r in graded_class.gradebook)
    assert (
        f"Histogram of {len(graded_class.gradebook)} students"
        in charts["Total marks"].find(f"{SVG}desc").text
    )
    for metric in task.spec.metrics:
        chart = charts[metric_title(metric.name)]
        assert series_titles(chart, "histogram") == [f"{graded} students"]
        expected = []
        for criterion in task.rubric.automatic_criteria:
            if criterion.metric != metric.name:
                continue
            if isinstance(criterion.scale, LinearScale):
                expected += [
                    f"floor: null model, 0 points: {criterion.scale.floor:.4g}",
                    f"target: reference, full points: {criterion.scale.target:.4g}",
                ]
            else:
                assert isinstance(criterion.scale, BandScale)
                expected += [
                    f"\u2265 {b.at:g}: {b.points:g} points: {b.at:.4g}"
                    for b in criterion.scale.bands
                ]
        assert series_titles(chart, "reference") == expected, metric.name
    assert series_titles(charts["Specificity"], "reference") == []  # not in the rubric


def test_the_page_is_self_contained_and_written_from_the_store_alone(graded_class):
    html = graded_class.dashboard.read_text()
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert not re.search(r"\ssrc=", html)
    hrefs = re.findall(r'\shref="([^"]*)"', html)
    assert hrefs and all(h.startswith("reports/") for h in hrefs)
    # a fresh store connection gives the same page, byte for byte, and leaves no temporary file
    with ResultStore(OutputFolder(graded_class.out).store) as store:
        again = write_class_dashboard(store, graded_class.task, graded_class.out)
    assert again.read_text() == html
    assert not list(graded_class.out.glob(".*.partial"))


def test_the_leaderboard_is_only_there_when_asked_and_ties_share_a_rank(graded_class, tmp_path):
    assert "Leaderboard" not in graded_class.dashboard.read_text()
    with ResultStore(OutputFolder(graded_class.out).store) as store:
        ranked = write_class_dashboard(store, graded_class.task, tmp_path, leaderboard=True)
    rows = read_page(ranked).tables["leaderboard"][1:]
    totals = {r["student_id"]: float(r["total"]) for r in graded_class.gradebook}
    assert [row[1] for row in rows] == sorted(totals, key=lambda s: (-totals[s], s))
    for rank, student, _ in rows:
        assert int(rank) == 1 + sum(total > totals[student] for total in totals.values())
    assert len({rank for rank, _, _ in rows}) < len(rows)  # the failures tie at 0


def test_an_empty_store_gives_a_page_that_says_so(tmp_path):
    with ResultStore(tmp_path / "medgrade.sqlite") as store:
        page = read_page(write_class_dashboard(store, load_task(TASK_ID), tmp_path))
    assert "0 students" in page.plain and "No runs of this task version" in page.plain


# --- subgroups and structures (synthetic runs in a store of their own) -----------------------


def _stored_like(graded_class: GradedClass, student: str) -> Evaluation:
    with ResultStore(OutputFolder(graded_class.out).store) as store:
        runs = store.latest_runs(TASK_ID, graded_class.task.spec.version, "test")
        run_id = next(r["id"] for r in runs if r["student_id"] == student)
        return store.load_evaluation(run_id)


def test_subgroup_gaps_are_summarised_across_the_class(graded_class, tmp_path):
    task = load_task("actg175-event")
    base = dataclasses.replace(
        _stored_like(graded_class, "good"), task_id=task.id, task_version=task.spec.version
    )
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    gaps: dict[str, list[float]] = {}
    with ResultStore(tmp_path / "medgrade.sqlite") as store:
        for index, student in enumerate(["ann", "ben", "cy"]):
            scores = np.clip(labels * (0.3 + 0.1 * index) + rng.uniform(0, 0.6, 300), 0, 1)
            # cy's "race" has one estimable group only: no gap
            race = np.where(np.arange(300) < (295 if student == "cy" else 150), "a", "b")
            reports = tuple(
                subgroup_metrics(
                    labels, scores, groups, metric=metric, attribute=attribute, n_resamples=20
                )
                for attribute, groups in (("race", race), ("gender", rng.choice(["f", "m"], 300)))
                for metric in ("roc_auc", "sensitivity")
            )
            for report in reports:
                gaps.setdefault(f"{metric_title(report.metric)} by {report.attribute}", []).append(
                    report.max_minus_min.value
                )
            store.add(dataclasses.replace(base, student_id=student, subgroups=reports))
        # a run whose evaluation document could not be stored: listed, its metrics left out
        curves = dataclasses.replace(base.kind_results, roc_fpr=np.zeros(2))
        store.add(dataclasses.replace(base, student_id="dot", kind_results=curves))
        page = read_page(write_class_dashboard(store, task, tmp_path))
    rows = {row[0]: row for row in page.tables["subgroups"][1:]}
    assert set(rows) == set(gaps)
    for title, values in gaps.items():
        defined = [v for v in values if not np.isnan(v)]
        assert rows[title][1].startswith(f"{np.median(defined):.3f} (")
        assert rows[title][2] == f"{len(values) - len(defined)} of 3"  # dot has no reports
        assert rows[title][3].startswith(f"{max(defined):.3f}")
    assert rows["ROC AUC by race"][2] == "1 of 3"  # cy's
    assert "The stored evaluation of dot is missing or cannot be read" in page.plain
    strip = charts_by_title(Path(tmp_path / "dashboard.html").read_text())[
        "Subgroup gaps across the class"
    ]
    assert len(series_titles(strip, "strip")) == len(gaps)


def test_a_segmentation_class_is_summarised_per_structure(graded_class, tmp_path):
    task = load_task("hippocampus-seg")
    base = dataclasses.replace(
        _stored_like(graded_class, "good"),
        task_id=task.id,
        task_version=task.spec.version,
        kind_results=None,
    )
    references = []
    for shift in range(3):
        volume = np.zeros((10, 10, 10), np.int64)
        volume[2 + shift : 6, 2:6, 2:6] = 1
        volume[6:9, 2:6, 2:6] = 2
        references.append(volume)
    dice: dict[str, list[float]] = {}
    with ResultStore(tmp_path / "medgrade.sqlite") as store:
        for student, shift in (("ann", 0), ("ben", 1), ("cy", 2)):
            predictions = [np.roll(r, shift, axis=1) for r in references]
            report = segmentation_metrics(references, predictions, labels=[1, 2], n_resamples=20)
            for summary in report.summaries:
                dice.setdefault(str(summary.structure), []).append(summary.results["dice"].value)
            store.add(
                dataclasses.replace(
                    base,
                    student_id=student,
                    metrics={m.name: report.result(m.name) for m in task.spec.metrics},
                    kind_results=LabelMapResults(report.summaries),
                )
            )
        html = write_class_dashboard(store, task, tmp_path).read_text()
    page = read_page(tmp_path / "dashboard.html")
    table = page.tables["structures"]
    assert table[0][:2] == ["Structure", "Dice"]
    assert [row[0] for row in table[1:]] == ["1 anterior", "2 posterior", "mean"]
    for row, key in zip(table[1:], ["1", "2", "None"], strict=True):
        assert row[1].startswith(f"{np.median(dice[key]):.3f} (") and row[1].endswith("n = 3)")
    charts = charts_by_title(html)
    assert len(series_titles(charts["Dice by structure"], "strip")) == 3
    # the rubric's anchors on the mean Dice: floor 0.5, target 0.87
    assert len(series_titles(charts["Dice"], "reference")) == 2


# --- in a real browser ------------------------------------------------------------------

BROWSER = find_chromium()


@pytest.mark.skipif(BROWSER is None, reason="Chromium is not installed (apt-get install chromium)")
def test_the_dashboard_renders_in_a_real_browser(graded_class, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with ResultStore(OutputFolder(graded_class.out).store) as store:
        ranked = write_class_dashboard(store, graded_class.task, tmp_path, leaderboard=True)
    with playwright.sync_playwright() as driver:
        browser = launch_browser(driver)
        try:
            page, errors = open_in_browser(browser, graded_class.dashboard)
            assert errors == []
            assert page.locator("#summary").is_visible()
            charts = page.locator("svg.chart")
            assert charts.count() == 1 + len(graded_class.task.spec.metrics)
            for index in range(charts.count()):
                box = charts.nth(index).bounding_box()
                assert box is not None and box["width"] > 200 and box["height"] > 150
            assert page.locator("#leaderboard").count() == 0
            hrefs = page.locator("#failures a").evaluate_all("links => links.map(a => a.href)")
            assert len(hrefs) == sum(r["status"] == "failed" for r in graded_class.gradebook)
            for href in hrefs:
                assert Path(url2pathname(urlparse(href).path)).is_file(), href
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
            # a failure's link opens its report, which renders without errors too
            page.locator("#failures a").first.click()
            page.wait_for_load_state()
            assert page.url == hrefs[0] and page.locator("#traceback").is_visible()
            assert errors == []
            page.close()

            page, errors = open_in_browser(browser, ranked)
            assert errors == [] and page.locator("#leaderboard").is_visible()
            assert page.locator("#leaderboard tbody tr").count() == len(graded_class.gradebook)
            page.close()
        finally:
            browser.close()
