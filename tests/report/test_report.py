"""HTML reports: content, privacy of hidden labels, and rendering in a real browser."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader.evaluation import Evaluation, evaluate
from grader.report import write_report
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def graded_reports(
    task, validation_split, test_split, backend, tmp_path_factory
) -> dict[str, tuple[Evaluation, Path]]:
    out = tmp_path_factory.mktemp("reports")
    runs = {
        "test": (EXAMPLES / "weak", test_split),
        "validation": (EXAMPLES / "weak", validation_split),
        "failed": (EXAMPLES / "crashes", test_split),
    }
    reports = {}
    for name, (submission, split) in runs.items():
        evaluation = evaluate(submission, student_id=name, prepared=split, backend=backend)
        reports[name] = (evaluation, write_report(evaluation, task, out, n_cases=split.n_cases))
    return reports


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in {"src", "href"} and value and not value.startswith("#"):
                self.external.append(value)

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> _Collector:
    collector = _Collector()
    collector.feed(path.read_text())
    return collector


def test_a_graded_report_shows_marks_metrics_with_ci_and_both_charts(graded_reports):
    evaluation, path = graded_reports["test"]
    html = path.read_text()
    text = " ".join(parse(path).text)
    assert f"Marks: {evaluation.marks.total:g} / 100" in text
    assert "ROC AUC" in text and "95% CI" in text and "DeLong" in text
    assert "Brier" in text and "Expected calibration error" in text
    for m in evaluation.marks.marks:
        assert m.explanation.split(";")[0] in text
    assert "pending" in text  # the manual write-up criterion
    assert evaluation.submission_sha256[:16] in text and "medgrade" in text
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    # hidden split: ROC, risk by class, reliability (no band, smoothed curve or decision curve)
    assert len(svgs) == 3
    for svg in svgs:
        ElementTree.fromstring(svg)  # well-formed
    assert "ROC curve" in svgs[0] and "Reliability diagram" in svgs[2]
    assert "pointwise bootstrap band" not in html and "Decision curve" not in html
    # The calibration slope and intercept are left to the self-check (grader.disclosure).
    assert "Calibration slope" not in text and "Smooth ECE" in text


def test_a_report_is_self_contained(graded_reports):
    for _, path in graded_reports.values():
        assert parse(path).external == []


def test_a_hidden_split_report_aggregates_every_plotted_point_and_names_no_case(
    graded_reports, test_split
):
    evaluation, path = graded_reports["test"]
    html = path.read_text()
    assert "held-out test split" in html and "Self-check" not in html
    assert not any(case_id in html for case_id in test_split.case_ids)
    curves = evaluation.kind_results
    assert curves.min_cases_per_point == 10
    assert min(curves.reliability["count"]) >= 10
    # each ROC step covers >= 10 cases, so the curve has at most n/10 + 1 points
    assert len(curves.roc_fpr) <= test_split.n_cases // 10 + 1


def test_a_self_check_report_says_it_is_not_the_final_mark_and_shows_every_view(graded_reports):
    evaluation, path = graded_reports["validation"]
    html = path.read_text()
    assert "Self-check on the validation split" in html
    assert evaluation.kind_results.min_cases_per_point == 1
    assert "pointwise bootstrap band" in html and "Decision curve" in html
    assert "Calibration slope" in html and "Calibration intercept" in html
    assert len(re.findall(r"<svg", html)) == 4


def test_a_failure_report_explains_the_failure_and_shows_the_traceback(graded_reports):
    _, path = graded_reports["failed"]
    text = " ".join(parse(path).text)
    assert "Failed: crashed." in text
    assert "Your code raised an error" in text
    assert "ValueError while running predict" in text
    assert 'predict.py", line' in text and "logits = inputs @ model" in text
    assert "0 points: the submission failed (crashed)" in text
    assert "<svg" not in path.read_text()


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


def launch_browser(driver):
    """The system Chromium, headless, with nothing that reaches the network by itself."""
    return driver.chromium.launch(
        executable_path=BROWSER,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
        ],
    )


def open_in_browser(browser, path: Path):
    """Open ``path`` in a new page; returns the page and the console errors it logged."""
    page = browser.new_page(viewport={"width": 1000, "height": 1400})
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    return page, errors


@pytest.mark.skipif(BROWSER is None, reason="Chromium is not installed (apt-get install chromium)")
def test_reports_render_in_a_real_browser_without_console_errors(graded_reports, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with playwright.sync_playwright() as driver:
        browser = launch_browser(driver)
        try:
            for name, (_, path) in graded_reports.items():
                page, errors = open_in_browser(browser, path)
                assert errors == [], (name, errors)
                assert page.locator("#marks").is_visible()
                charts = page.locator("svg.chart")
                if name == "failed":
                    assert charts.count() == 0
                    assert page.locator("#traceback").is_visible()
                else:
                    expected = 3 if name == "test" else 4
                    assert charts.count() == expected
                    for index in range(expected):
                        box = charts.nth(index).bounding_box()
                        assert box is not None and box["width"] > 200 and box["height"] > 200
                    assert page.locator("svg.chart polyline").count() >= 4
                page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
                assert (tmp_path / f"{name}.png").stat().st_size > 10_000
                page.close()
        finally:
            browser.close()
