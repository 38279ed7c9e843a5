"""Learning management systems: bulk downloads in, gradebooks out.

- :func:`read_download` recognises a Canvas or Moodle "download all submissions" folder (or
  medgrade's own layout) and groups it by student, under the LMS's id for the student.
- :func:`read_roster` reads the class roster (ids, names, emails, SIS ids), and
  :func:`read_submission_times` when each student handed in (for a rubric's late policy).
- :func:`write_lms_exports` writes, from the results store, Canvas's gradebook import CSV,
  Moodle's grading worksheet and Gradescope's ``results.json`` per submission.
"""

from grader.lms._exports import (
    CANVAS_FILE,
    CANVAS_POINTS_POSSIBLE,
    CANVAS_STUDENT_COLUMNS,
    GRADESCOPE_DIR,
    LMS_FORMATS,
    MOODLE_COLUMNS,
    MOODLE_FILE,
    LmsExport,
    LmsFormat,
    feedback_comment,
    feedback_text,
    gradescope_results,
    write_feedback_files,
    write_lms_exports,
)
from grader.lms._intake import (
    Download,
    DownloadedSubmission,
    Layout,
    discover_submissions,
    read_download,
)
from grader.lms._roster import (
    ROSTER_COLUMNS,
    SUBMISSION_TIMES_COLUMNS,
    Student,
    class_list,
    read_roster,
    read_submission_times,
)

__all__ = [
    "CANVAS_FILE",
    "CANVAS_POINTS_POSSIBLE",
    "CANVAS_STUDENT_COLUMNS",
    "GRADESCOPE_DIR",
    "LMS_FORMATS",
    "MOODLE_COLUMNS",
    "MOODLE_FILE",
    "ROSTER_COLUMNS",
    "SUBMISSION_TIMES_COLUMNS",
    "Download",
    "DownloadedSubmission",
    "Layout",
    "LmsExport",
    "LmsFormat",
    "Student",
    "class_list",
    "discover_submissions",
    "feedback_comment",
    "feedback_text",
    "gradescope_results",
    "read_download",
    "read_roster",
    "read_submission_times",
    "write_feedback_files",
    "write_lms_exports",
]
