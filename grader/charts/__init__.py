"""Inline SVG charts: plain arrays and strings in, one ``<svg>`` string out.

A low layer, like :mod:`grader.metrics`: it knows nothing of tasks, evaluations, marks,
stores or reports (``pyproject.toml`` has the import-linter contract). The reports and the
class dashboard (:mod:`grader.report`) call it.

Written by hand rather than with matplotlib, on purpose: matplotlib measured about 100x
slower per chart, plus about 1 s to import in every grading process, and a report needs
only a handful of simple chart kinds. A small writer keeps them self-contained (one HTML
file, no assets), accessible (``<title>``, ``<desc>``, ``role="img"``) and deterministic
(the same data gives the same bytes, so reports can be diffed and hashed).

The conventions every chart shares:

- Rows with a missing or non-finite value are skipped and a note under the chart says how
  many; empty input draws the axes and says there is nothing to draw. Only inconsistent
  arguments (arrays of different lengths, a 3-D image) raise ``ValueError``.
- Every piece of text goes through ``_escape`` (:mod:`grader.charts._text`), which also
  drops characters XML cannot hold, so a label can never inject markup.
- Element ids are prefixed with a hash of the chart itself, so any number of different
  charts can share a page, and no ``<style>`` element is written (in an HTML page it would
  restyle the whole document): presentation attributes only.
- Legends and notes sit below the plot area, never on the data; tick labels are chosen
  so they cannot overlap; series are drawn clipped to the plot area.
- Each plotted series is one ``<g class="series ...">`` with a ``<title>`` (its tooltip).

The modules, lowest first: ``_style`` (colours, sizes), ``_text`` (escaping, widths,
number formats), ``_data`` (input checks), ``_axes`` (ticks, axes, panels), ``_canvas``
(the SVG document, legend, notes), ``_chart`` (scales, axes and series over panels); then
one module per family of charts: ``_discrimination`` (ROC, risk by class),
``_calibration`` (reliability diagram, decision curve), ``_subgroups``,
``_distributions`` (the dashboard's histogram and strip charts, and the spreads they
draw as table cells) and ``_overlay`` (segmentation outlines on an image slice).
"""

from grader.charts._axes import nice_ticks
from grader.charts._calibration import decision_curve_chart, reliability_chart
from grader.charts._discrimination import (
    Series,
    risk_distribution_chart,
    roc_chart,
    unit_square_chart,
)
from grader.charts._distributions import (
    ReferenceLine,
    Spread,
    histogram_chart,
    spread_cell,
    strip_chart,
)
from grader.charts._overlay import segmentation_overlay
from grader.charts._subgroups import subgroup_chart

__all__ = [
    "ReferenceLine",
    "Series",
    "Spread",
    "decision_curve_chart",
    "histogram_chart",
    "nice_ticks",
    "reliability_chart",
    "risk_distribution_chart",
    "roc_chart",
    "segmentation_overlay",
    "spread_cell",
    "strip_chart",
    "subgroup_chart",
    "unit_square_chart",
]
