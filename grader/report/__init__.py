"""Self-contained HTML reports (one file, inline SVG, no external assets)."""

from grader.report._dashboard import write_class_dashboard
from grader.report._render import render_report, write_report

__all__ = ["render_report", "write_class_dashboard", "write_report"]
