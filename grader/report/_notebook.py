"""The graded notebook: the notebook as the sandbox ran it, with the report appended as a
last cell, so a marker reads the student's write-up, the outputs at grading time and the
marks on one page; and its export to HTML or PDF (``medgrade export``).

Running a notebook submission happens in the sandbox (:mod:`sandbox.harness`); the Jupyter
front end (:mod:`grader.notebooks`) only starts a self-check.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

import nbformat

from grader.errors import NotebookError
from grader.output import OutputFolder

#: The tag of the cell that carries the report in a graded notebook.
REPORT_TAG = "medgrade-report"


def graded_notebook(executed: str, report_fragment: str) -> str | None:
    """The executed notebook with the report appended, or None when it is unusable (the
    sandbox wrote it, so it may be anything)."""
    try:
        notebook = nbformat.reads(executed, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:  # only the grader's own last cell carries the tag
            tags = cell.metadata.get("tags")
            if isinstance(tags, list) and REPORT_TAG in tags:
                cell.metadata["tags"] = [tag for tag in tags if tag != REPORT_TAG]
        notebook.cells.append(
            nbformat.v4.new_code_cell(
                "# The medgrade report, added by the grader",
                metadata={"tags": [REPORT_TAG], "jupyter": {"source_hidden": True}},
                outputs=[
                    nbformat.v4.new_output("display_data", data={"text/html": report_fragment})
                ],
            )
        )
        text = nbformat.writes(notebook)
        text.encode("utf-8")  # lone surrogates from the sandbox cannot be written out
    except Exception:  # whatever nbformat or the codec raises, the notebook is unusable
        return None
    return text


def export_notebook(
    notebook_path: Path, destination: Path, *, to: Literal["html", "pdf"] = "html"
) -> Path:
    """Convert a graded notebook to HTML (nbconvert) or PDF (nbconvert's HTML printed by
    Chromium); return the file written.

    The student's cells are sanitised (no scripts, no raw HTML that could restyle or
    rewrite the page); the grader's report, from the notebook's last cell, is added after.
    """
    from nbconvert import HTMLExporter

    try:
        notebook = nbformat.read(notebook_path, as_version=4)
    except Exception as error:  # a corrupt file in the reports folder
        raise NotebookError(f"{notebook_path} is not a readable notebook: {error}") from None
    last = notebook.cells[-1] if notebook.cells else None
    if last is None or REPORT_TAG not in last.metadata.get("tags", []):
        raise NotebookError(f"{notebook_path} is not a graded notebook (no medgrade report)")
    notebook.cells.pop()
    report = "".join(o.get("data", {}).get("text/html", "") for o in last.outputs)
    exporter = HTMLExporter(template_name="lab", sanitize_html=True)
    html, _ = exporter.from_notebook_node(notebook)
    html = html.replace("</body>", f'<section class="medgrade-export">{report}</section></body>')
    destination.parent.mkdir(parents=True, exist_ok=True)
    if to == "html":
        destination.write_text(html, encoding="utf-8")
    else:
        _print_to_pdf(html, destination)
    return destination


def _print_to_pdf(html: str, destination: Path) -> None:
    # nbconvert's own WebPDFExporter only finds a Chromium that Playwright downloaded;
    # graders often have the distribution's Chromium instead, so print with either.
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise NotebookError(
            "PDF export needs Playwright and Chromium: pip install playwright, then "
            "apt-get install chromium (or playwright install chromium)"
        ) from None
    with sync_playwright() as driver:
        try:
            browser = driver.chromium.launch(executable_path=find_chromium())
        except Exception as error:  # Playwright's errors have no common base
            raise NotebookError(f"Chromium could not start for PDF export: {error}") from None
        try:
            # No scripts and no network: the page is printed as the sanitised HTML stands.
            page = browser.new_page(java_script_enabled=False)
            page.route("**/*", lambda route: route.abort())
            page.set_content(html, wait_until="load")
            page.emulate_media(media="print")
            page.pdf(path=str(destination), format="A4", print_background=True)
        except Exception as error:
            raise NotebookError(f"printing {destination.name} failed: {error}") from None
        finally:
            browser.close()


def find_chromium() -> str | None:
    """The system's Chromium, else None (Playwright then uses its own download)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def graded_notebooks(path: Path) -> list[Path]:
    """The graded notebooks at ``path``: a notebook, a reports folder or a grading folder."""
    if path.is_file():
        return [path]
    reports = OutputFolder(path).reports
    reports = reports if reports.is_dir() else path
    found = sorted(reports.glob("*.ipynb"))
    if not found:
        raise NotebookError(
            f"no graded notebooks in {reports}: only notebook submissions leave one "
            "(reports/<student>.ipynb)"
        )
    return found
