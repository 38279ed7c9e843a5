"""Colours, fonts and the fixed sizes every chart is laid out with."""

from __future__ import annotations

# Okabe & Ito's palette: distinguishable with every common colour-vision deficiency.
_BLUE, _VERMILLION, _ORANGE, _SKY = "#0072B2", "#D55E00", "#E69F00", "#56B4E9"
_GREEN = "#009E73"
_INK, _MUTED, _GRID, _FRAME = "#1d232a", "#6b6f76", "#ebecf0", "#9a9ca5"
_FONT = "system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"

_PAD = 8.0  # outer padding
_TICK_SIZE, _LABEL_SIZE, _TITLE_SIZE = 10.0, 11.0, 13.0
_PLOT_TOP = 34.0  # room for the title above the plot area
_PANEL_GAP = 18.0  # keeps tick labels of neighbouring panels apart
_LEGEND_ROW, _NOTE_ROW = 16.0, 13.0
_SQUARE = 240.0  # side of the ROC and reliability plot areas
_PX_LIMIT = 1e6  # pixel coordinates are clamped here; the clip path hides anything beyond
