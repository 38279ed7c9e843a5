"""Task authoring: specs, the catalog, and validation of a task against its reference."""

from grader.tasks._catalog import Task, load_task, task_ids, task_search_dirs
from grader.tasks._public import PUBLIC_SPLITS, public_split
from grader.tasks.spec import TaskSpec

__all__ = [
    "PUBLIC_SPLITS",
    "Task",
    "TaskSpec",
    "load_task",
    "public_split",
    "task_ids",
    "task_search_dirs",
]
