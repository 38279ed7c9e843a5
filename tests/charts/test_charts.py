"""Inline SVG charts: well-formed, accessible, escaped, robust to odd data, and drawn by a browser."""

from __future__ import annotations

import base64
import doctest
import importlib
import pkgutil
import re
import struct
import xml.etree.ElementTree as ElementTree
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import grader.charts
from grader.charts import (
    ReferenceLine,
    Series,
    decision_curve_chart,
    histogram_chart,
    nice_ticks,
    reliability_chart,
    risk_distribution_chart,
    roc_chart,
    segmentation_overlay,
    strip_chart,
    subgroup_chart,
    unit_square_chart,
)
from tests.charts.samples import SAMPLES

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script>"


def parse(svg: str) -> ElementTree.Element:
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def series(root: ElementTree.Element, kind: str | None = None) -> list[ElementTree.Element]:
    wanted = f"series-{kind}" if kind else "series"
    return [g for g in root.iter(f"{SVG}g") if wanted in g.get("class", "").split()]


def title_of(root: ElementTree.Element) -> str:
    title = root.find(f"{SVG}title")
    assert title is not None and title.text
    labelled = root.get("aria-labelledby", "").split()
    assert title.get("id") in labelled and root.find(f"{SVG}desc").get("id") in labelled
    return title.text


def notes(root: ElementTree.Element) -> str:
    group = next((g for g in root.iter(f"{SVG}g") if g.get("class") == "notes"), None)
    return " ".join(t.text or "" for t in group.iter(f"{SVG}text")) if group is not None else ""


def ids(svg: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', svg))


@pytest.fixture(scope="module")
def charts() -> dict[str, str]:
    return {name: make() for name, make in SAMPLES.items()}


# --- structure --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_chart_is_well_formed_titled_and_described(charts, name):
    root = parse(charts[name])
    assert title_of(root)
    assert root.get("role") == "img" and "chart" in root.get("class").split()
    assert float(root.get("width")) > 200 and float(root.get("height")) > 200
    assert "<style" not in charts[name]  # would restyle the whole report page


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("roc", {"band": 1, "line": 2}),
        ("reliability", {"line": 3, "bars": 1}),
        ("risk", {"histogram": 2}),
        ("subgroups", {"subgroup": 4, "overall": 1}),
        ("decision", {"line": 3}),
        ("overlay", {"image": 1, "outline": 2}),
        ("histogram", {"histogram": 1, "reference": 2}),
        ("strip", {"strip": 4, "median": 4}),
    ],
)
def test_each_chart_draws_the_expected_series(charts, name, expected):
    root = parse(charts[name])
    assert {kind: len(series(root, kind)) for kind in expected} == expected
    assert len(series(root)) == sum(expected.values())


def test_the_report_charts_keep_their_titles_and_polylines():
    # grader/report/_render.py and tests/report/test_report.py rely on these
    roc = parse(roc_chart([0, 0.5, 1], [0, 0.8, 1], auc_label="AUC 0.9"))
    reliability = parse(reliability_chart([0.2, 0.8], [0.1, 0.9]))
    assert title_of(roc) == "ROC curve" and title_of(reliability) == "Reliability diagram"
    assert (
        len(list(roc.iter(f"{SVG}polyline"))) + len(list(reliability.iter(f"{SVG}polyline"))) >= 4
    )


def test_the_subgroup_chart_greys_out_rows_that_are_not_estimable(charts):
    root = parse(charts["subgroups"])
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts.count("not estimable") == 2  # the NaN row and the extra "unknown sex" row
    assert "unknown sex" in texts and "overall 0.840" in texts
    assert "0.810 (0.720\u20130.880)" in texts


def test_the_decision_curve_clips_treat_all_and_says_so(charts):
    root = parse(charts["decision"])
    labels = [t.text for t in root.iter(f"{SVG}text")]
    lowest_tick = min(
        float(s.replace("\u2212", "-")) for s in labels if re.fullmatch(r"\u2212?\d\.\d+", s or "")
    )
    assert -0.2 < lowest_tick < 0
    assert "Treat all falls below the axis" in notes(root)


def test_a_risk_histogram_has_unit_area():
    svg = risk_distribution_chart([0.5] * 10, [0.1, 0.2, 0.2, 0.9], bins=10)
    root = parse(svg)
    assert len(series(root, "histogram")) == 2
    # all ten positives in one bin of width 0.1: density 10, so the y axis reaches 10
    assert "10" in [t.text for t in root.iter(f"{SVG}text")]


def test_a_histogram_counts_whole_values_in_round_bins():
    root = parse(histogram_chart([0, 5, 5, 7, 100], title="t", x_title="marks", low=0, high=100))
    assert "5 students in 20 bins of 5 from 0 to 100" in root.find(f"{SVG}desc").text
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert {"0", "1", "2"} <= set(labels) and "0.5" not in labels and "2.5" not in labels
    # an edge value counts in the bin to its right, the highest value in the last bin
    (path,) = [p.get("d") for g in series(root, "histogram") for p in g.iter(f"{SVG}path")]
    heights = [float(v) for v in re.findall(r"V([\d.]+)", path)][:20]  # the last V closes it
    base = heights[2]
    assert heights[0] == heights[19] < base and heights[1] < heights[0]  # counts 1, 3, ..., 1
    assert heights[2:19] == [base] * 17


def test_a_histogram_axis_reaches_every_reference_line_and_value():
    root = parse(
        histogram_chart(
            [1.2, 1.5, 2.5],
            title="HD95",
            x_title="mm",
            references=[ReferenceLine(10.0, "floor", "floor"), ReferenceLine(2.0, "target")],
        )
    )
    ticks = [float(t.text) for t in root.iter(f"{SVG}text") if re.fullmatch(r"\d+(\.\d+)?", t.text)]
    assert max(ticks) >= 10 and min(ticks) <= 1.2
    assert [g.find(f"{SVG}title").text for g in series(root, "reference")] == [
        "floor: 10",
        "target: 2",
    ]


def test_a_strip_row_without_values_says_so_and_medians_are_listed(charts):
    root = parse(charts["strip"])
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "no values" in texts and "median 0.100 (n = 3)" in texts
    assert "1 value with a missing or non-finite value was not drawn." in notes(root)


def test_small_risk_bins_can_be_hidden_for_hidden_label_splits():
    root = parse(
        risk_distribution_chart([0.9, 0.5, 0.52], [0.1] * 20, bins=10, min_cases_per_bin=2)
    )
    assert "1 bin of positive with fewer than 2 cases not drawn." in notes(root)


# --- text, ids --------------------------------------------------------------------------


def all_charts_labelled(label: str) -> list[str]:
    return [
        roc_chart(
            [0, 1],
            [0, 1],
            auc_label=label,
            band_fpr=[0, 1],
            band_low=[0, 0.5],
            band_high=[0.5, 1],
            band_label=label,
        ),
        reliability_chart([0.5], [0.5], smooth_x=[0, 1], smooth_y=[0, 1], smooth_label=label),
        risk_distribution_chart([0.7], [0.2], positive_label=label, negative_label=label),
        subgroup_chart(
            [label],
            [0.5],
            [0.4],
            [0.6],
            overall=0.5,
            metric_title=label,
            not_estimable=[label + "!"],
        ),
        decision_curve_chart([0.1, 0.2], [0.1, 0.05], [0.2, 0.1], 0.0, model_label=label),
        segmentation_overlay(np.eye(4), np.eye(4), np.eye(4), title=label),
        unit_square_chart(
            label, label, label, [Series([(0, 0), (1, 1)], label)], description=label
        ),
        histogram_chart(
            [0.5], title=label, x_title=label, references=[ReferenceLine(0.4, label)], noun=label
        ),
        strip_chart([label], [[0.5]], title=label, x_title=label, noun=label),
    ]


def test_labels_are_escaped_everywhere():
    for svg in all_charts_labelled(EVIL + "\x00\x1b & \"quoted\" 'single'"):
        root = parse(svg)
        assert "<script" not in svg and "\x00" not in svg and "\x1b" not in svg
        assert EVIL in "".join(root.itertext())  # shown as text, not markup
        assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))


def test_long_labels_are_shortened_but_kept_whole_in_tooltips():
    long_label = "a very long label that cannot possibly fit " * 4
    for svg in all_charts_labelled(long_label):
        root = parse(svg)
        drawn = [t.text or "" for t in root.iter(f"{SVG}text")]
        assert all(len(text) < len(long_label) for text in drawn)
        assert long_label.strip() in "".join(root.itertext())


def test_two_charts_never_share_an_id(charts):
    all_ids = [ids(svg) for svg in charts.values()]
    assert all(all_ids)
    for index, first in enumerate(all_ids):
        for second in all_ids[index + 1 :]:
            assert not first & second
    # and within a chart every reference resolves to an id of that chart
    for svg, own in zip(charts.values(), all_ids, strict=True):
        assert set(re.findall(r"url\(#([^)]+)\)", svg)) <= own


def test_rendering_is_deterministic():
    assert SAMPLES["roc"]() == SAMPLES["roc"]()
    assert ids(roc_chart([0, 1], [0, 1], auc_label="A")) != ids(
        roc_chart([0, 1], [0, 1], auc_label="B")
    )


# --- degenerate input -------------------------------------------------------------------

DEGENERATE = {
    "roc empty": lambda: roc_chart([], [], auc_label="AUC n/a"),
    "roc nan": lambda: roc_chart([0, np.nan, 1], [0, 0.5, np.inf], auc_label="AUC"),
    "reliability empty": lambda: reliability_chart([], [], counts=[]),
    "reliability one bin": lambda: reliability_chart([0.5], [0.5], counts=[0]),
    "reliability nan": lambda: reliability_chart([0.1, np.nan], [0.2, 0.3], counts=[5, 5]),
    "risk empty": lambda: risk_distribution_chart([], []),
    "risk all equal": lambda: risk_distribution_chart([0.5, 0.5], [0.5], bins=1),
    "risk outside": lambda: risk_distribution_chart([np.nan, 1.5, 0.3], [-0.1]),
    "subgroups empty": lambda: subgroup_chart([], [], [], [], overall=None, metric_title="AUC"),
    "subgroups all equal": lambda: subgroup_chart(
        ["a", "b"], [0.8, 0.8], [0.8, 0.8], [0.8, 0.8], overall=0.8, metric_title="AUC"
    ),
    "subgroups all nan": lambda: subgroup_chart(
        ["a"], [np.nan], [np.nan], [np.nan], overall=float("nan"), metric_title="AUC"
    ),
    "subgroups no ci": lambda: subgroup_chart(
        ["a"], [0.7], [np.nan], [np.nan], overall=None, metric_title="AUC"
    ),
    "decision empty": lambda: decision_curve_chart([], [], [], []),
    "decision flat": lambda: decision_curve_chart([0.2, 0.4], [0, 0], [0, 0], 0.0),
    "decision nan": lambda: decision_curve_chart(
        [0.1, 0.5, 1.0], [0.2, np.nan, 0.1], [0.2, 0.0, -np.inf], 0.0
    ),
    "overlay empty": lambda: segmentation_overlay(
        np.zeros((0, 0)), np.zeros((0, 0)), np.zeros((0, 0)), title="t"
    ),
    "overlay flat": lambda: segmentation_overlay(
        np.ones((5, 7)), np.zeros((5, 7)), np.zeros((5, 7)), title="t"
    ),
    "overlay nan": lambda: segmentation_overlay(
        np.full((3, 3), np.nan), np.ones((3, 3)), np.eye(3), title="t"
    ),
    "unit nan": lambda: unit_square_chart(
        "t", "x", "y", [Series([(np.nan, 0.5)], "s")], description="d"
    ),
    "histogram empty": lambda: histogram_chart([], title="t", x_title="x"),
    "histogram all equal": lambda: histogram_chart([3.0, 3.0], title="t", x_title="x", bins=1),
    "histogram nan": lambda: histogram_chart(
        [np.nan, 0.4, np.inf], title="t", x_title="x", references=[ReferenceLine(np.nan, "r")]
    ),
    "strip empty": lambda: strip_chart([], [], title="t", x_title="x"),
    "strip all nan": lambda: strip_chart(["a"], [[np.nan]], title="t", x_title="x"),
}


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_degenerate_input_still_draws_a_titled_chart(name):
    root = parse(DEGENERATE[name]())
    assert title_of(root)
    assert root.find(f"{SVG}desc").text


@pytest.mark.parametrize(
    ("name", "note"),
    [
        ("roc nan", "2 points with a missing or non-finite value were not drawn."),
        ("reliability nan", "1 bin with a missing or non-finite value was not drawn."),
        (
            "risk outside",
            "2 values of probabilities_positive outside [0, 1] or not finite were not drawn.",
        ),
        ("decision nan", "2 thresholds with a missing or non-finite value were not drawn."),
        ("overlay nan", "9 pixels with no finite value drawn black."),
        ("overlay flat", "The reference mask is empty on this slice."),
        ("unit nan", "1 point with a missing or non-finite value was not drawn."),
        ("histogram nan", "2 students with a missing or non-finite value were not drawn."),
        ("strip all nan", "1 value with a missing or non-finite value was not drawn."),
    ],
)
def test_skipped_values_are_noted_under_the_chart_and_in_the_description(name, note):
    root = parse(DEGENERATE[name]())
    assert note in notes(root) and note in root.find(f"{SVG}desc").text


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: roc_chart([0, 1], [0], auc_label="a"), "fpr, tpr must have one entry per point"),
        (lambda: roc_chart([0, 1], [0, 1], auc_label="a", band_fpr=[0, 1]), "given together"),
        (lambda: reliability_chart([0.5], [0.5], smooth_x=[0.5]), "smooth_x and smooth_y"),
        (lambda: reliability_chart([[0.5]], [0.5]), "mean_predicted must be 1-D"),
        (lambda: risk_distribution_chart([0.5], [0.5], bins=0), "bins must be an integer >= 1"),
        (lambda: risk_distribution_chart(["a"], [0.5]), "probabilities_positive must be"),
        (
            lambda: subgroup_chart(["a", "b"], [1], [1], [1], overall=None, metric_title="m"),
            "groups has 2",
        ),
        (lambda: decision_curve_chart([0.1], [0.1, 0.2], [0.1], 0.0), "model has 2"),
        (lambda: histogram_chart([1], title="t", x_title="x", bins=0), "bins must be an integer"),
        (lambda: histogram_chart([[1]], title="t", x_title="x"), "values must be 1-D"),
        (lambda: strip_chart(["a", "b"], [[1]], title="t", x_title="x"), "got 2 rows and 1 list"),
        (
            lambda: segmentation_overlay(
                np.zeros((2, 2, 2)), np.zeros((2, 2)), np.zeros((2, 2)), title="t"
            ),
            "image_2d must be a 2-D slice",
        ),
        (
            lambda: segmentation_overlay(
                np.zeros((2, 2)), np.zeros((2, 3)), np.zeros((2, 2)), title="t"
            ),
            "reference_2d must have the shape",
        ),
    ],
)
def test_inconsistent_arguments_raise_a_message_naming_them(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


finite_or_not = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=40, deadline=None)
@given(
    xs=hnp.arrays(np.float64, st.integers(0, 30), elements=finite_or_not),
    data=st.data(),
)
def test_any_numbers_give_well_formed_charts(xs, data):
    ys = data.draw(hnp.arrays(np.float64, xs.shape, elements=finite_or_not))
    zs = data.draw(hnp.arrays(np.float64, xs.shape, elements=finite_or_not))
    for svg in (
        roc_chart(xs, ys, auc_label="a", band_fpr=xs, band_low=ys, band_high=zs),
        reliability_chart(xs, ys, counts=np.abs(zs), smooth_x=ys, smooth_y=xs),
        risk_distribution_chart(xs, ys, bins=7),
        subgroup_chart(
            [str(i) for i in range(xs.size)],
            xs,
            ys,
            zs,
            overall=float(xs[0]) if xs.size else None,
            metric_title="m",
        ),
        decision_curve_chart(xs, ys, zs, 0.0),
        histogram_chart(
            xs,
            title="t",
            x_title="x",
            low=float(ys[0]) if ys.size else None,
            high=float(zs[0]) if zs.size else None,
            references=[ReferenceLine(float(v), "r") for v in ys[:3]],
        ),
        strip_chart(["a", "b"], [xs, ys], title="t", x_title="x"),
    ):
        root = parse(svg)
        assert title_of(root)
        attributes = re.findall(r'\s[\w:-]+="([^"]*)"', svg)
        assert not any(re.search(r"\b(nan|inf)\b", value, re.I) for value in attributes)


# --- axis ticks -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    low=st.floats(-1e6, 1e6),
    span=st.floats(0, 1e6),
    max_ticks=st.integers(2, 12),
)
def test_nice_ticks_cover_the_range_with_round_even_steps(low, span, max_ticks):
    # below this, float spacing itself is coarser than the steps (not a plotting concern)
    assume(span == 0 or span > 1e-6 * max(1.0, abs(low)))
    high = low + span
    ticks = nice_ticks(low, high, max_ticks=max_ticks)
    assert 2 <= len(ticks) <= max(max_ticks, 3)
    if len(ticks) > max_ticks:  # two ticks cannot span a range around zero
        assert max_ticks == 2 and ticks[0] < 0 < ticks[-1]
    step = ticks[1] - ticks[0]
    if span > 1e-9 * max(1.0, abs(low)):
        assert ticks[0] <= low + 1e-9 * step and ticks[-1] >= high - 1e-9 * step
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0], rtol=1e-6)
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
    assert any(np.isclose(mantissa, m, rtol=1e-6) for m in (1, 2, 2.5, 5, 10))


def test_nice_ticks_examples():
    assert nice_ticks(0, 1) == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert nice_ticks(0, 87, max_ticks=2) == (0.0, 100.0)
    assert nice_ticks(-0.07, 0.31) == (-0.1, 0.0, 0.1, 0.2, 0.3, 0.4)
    with pytest.raises(ValueError, match="finite"):
        nice_ticks(0, float("nan"))


# --- segmentation overlay PNG -----------------------------------------------------------


def png_of(svg: str) -> bytes:
    image = next(parse(svg).iter(f"{SVG}image"))
    prefix = "data:image/png;base64,"
    assert image.get("href").startswith(prefix)
    return base64.b64decode(image.get("href")[len(prefix) :])


def decode_greyscale_png(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = {}, 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind, data = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + data) == crc
        chunks[kind] = data
        offset += 12 + length
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour) == (8, 0) and b"IEND" in chunks
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, width + 1)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:]


def test_the_overlay_embeds_a_valid_png_of_the_slice(charts):
    pixels = decode_greyscale_png(png_of(charts["overlay"]))
    assert pixels.shape == (96, 96)
    assert pixels.min() == 0 and pixels.max() == 255  # windowed to the 1st-99th percentile
    ramp = np.tile(np.arange(10.0), (3, 1))
    exact = decode_greyscale_png(png_of(segmentation_overlay(ramp, ramp > 4, ramp > 5, title="t")))
    assert exact.shape == (3, 10) and (np.diff(exact[0].astype(int)) >= 0).all()


def test_large_slices_are_downsampled_to_256_pixels(charts):
    assert decode_greyscale_png(png_of(charts["overlay_large"])).shape == (200, 200)
    tall = segmentation_overlay(
        np.zeros((1000, 300)), np.zeros((1000, 300)), np.zeros((1000, 300)), title="t"
    )
    assert decode_greyscale_png(png_of(tall)).shape == (250, 75)
    assert "Downsampled from 1000 \u00d7 300 to 250 \u00d7 75 pixels." in notes(parse(tall))


def test_a_tiny_structure_survives_downsampling():
    mask = np.zeros((1024, 1024), bool)
    mask[500, 500] = True  # one pixel: the majority vote alone would erase it
    root = parse(segmentation_overlay(np.zeros(mask.shape), mask, mask, title="t"))
    assert len(series(root, "outline")) == 2


def test_outlines_follow_pixel_edges():
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True  # a 2 x 2 square: four merged edges
    root = parse(segmentation_overlay(np.zeros((4, 4)), mask, np.zeros((4, 4)), title="t"))
    (outline,) = series(root, "outline")
    path = outline.find(f"{SVG}path").get("d")
    assert path.count("M") == 4 and path.count("H") == 2 and path.count("V") == 2


# --- in a real browser ------------------------------------------------------------------

BROWSER = Path("/usr/bin/chromium")


def write_page(folder: Path, charts: dict[str, str]) -> Path:
    page = folder / "charts.html"
    page.write_text(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>charts</title>'
        "<style>body{font:15px system-ui,sans-serif;margin:1rem;max-width:960px}"
        ".charts{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}"
        ".chart{border:1px solid #e5e5ea;border-radius:6px}</style></head><body>"
        f'<div class="charts">{"".join(charts.values())}</div></body></html>',
        encoding="utf-8",
    )
    return page


def screenshot(charts: dict[str, str], folder: Path, target: Path) -> tuple[list[str], list[dict]]:
    """Open the charts in headless Chromium; returns console errors and SVG bounding boxes."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    page_path = write_page(folder, charts)
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(BROWSER), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1200})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(page_path.as_uri())
            boxes = [svg.bounding_box() for svg in page.locator("svg").all()]
            page.screenshot(path=str(target), full_page=True)
        finally:
            browser.close()
    return errors, boxes


@pytest.mark.skipif(not BROWSER.exists(), reason="Chromium is not installed at /usr/bin/chromium")
def test_all_charts_render_in_a_real_browser(charts, tmp_path):
    with_evil = {**charts, "evil": all_charts_labelled(EVIL)[3]}
    errors, boxes = screenshot(with_evil, tmp_path, tmp_path / "charts.png")
    assert errors == []
    assert len(boxes) == len(with_evil)
    assert all(box is not None and box["width"] > 0 and box["height"] > 0 for box in boxes)
    assert (tmp_path / "charts.png").stat().st_size > 10_000


CHART_MODULES = sorted(
    module.name for module in pkgutil.iter_modules(grader.charts.__path__, "grader.charts.")
)


@pytest.mark.parametrize("name", ["grader.charts", *CHART_MODULES])
def test_the_module_doctests_pass(name):
    assert doctest.testmod(importlib.import_module(name)).failed == 0


def test_the_doctests_are_found():
    attempted = sum(
        doctest.testmod(importlib.import_module(name)).attempted for name in CHART_MODULES
    )
    assert attempted >= 4  # nice_ticks and histogram_chart have examples
