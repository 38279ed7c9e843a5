"""Task specs and the catalog: what a task is, where it is found, and its recorded split
checked against the data (``medgrade task validate`` itself is a journey:
:func:`grader.journeys.validate_task`)."""

from grader.tasks._against_data import recompute_split
from grader.tasks._catalog import Task, load_task, task_ids, task_search_dirs
from grader.tasks._public import PUBLIC_SPLITS, public_split
from grader.tasks.spec import TaskSpec

__all__ = [
    "PUBLIC_SPLITS",
    "Task",
    "TaskSpec",
    "load_task",
    "public_split",
    "recompute_split",
    "task_ids",
    "task_search_dirs",
]
