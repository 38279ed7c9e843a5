"""Self-contained HTML reports (one file, inline SVG, no external assets), the class
dashboard, and the graded notebook with its HTML/PDF export."""

from grader.report._dashboard import write_class_dashboard
from grader.report._notebook import (
    REPORT_TAG,
    export_notebook,
    find_chromium,
    graded_notebook,
    graded_notebooks,
)
from grader.report._render import render_report, write_report

__all__ = [
    "REPORT_TAG",
    "export_notebook",
    "find_chromium",
    "graded_notebook",
    "graded_notebooks",
    "render_report",
    "write_class_dashboard",
    "write_report",
]
