"""The ``output`` section of a task spec: fields every kind has, and each kind's own.

Each output kind declares its fields as a subclass of :class:`OutputContract` whose ``kind``
is ``Literal["its name"]``; a spec's ``output`` is validated by the contract its ``kind``
names (:func:`grader.kinds.output_contract`), so a kind's fields live in its own module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator


class OutputContract(BaseModel):
    """What ``predict`` must return: the fields every output kind has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field(description="The output kind (each kind's contract narrows it).")
    batch_size: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Call predict on batches of this many cases (None: all at once)."
    )

    #: Looks a kind up by name, raising ValueError naming the known kinds; the registry sets
    #: it when it is imported (it imports this module, so this one cannot import it).
    kind_lookup: ClassVar[Callable[[str], object]]

    @field_validator("kind")
    @classmethod
    def _registered(cls, value: str) -> str:
        OutputContract.kind_lookup(value)
        return value

    def describe(self) -> str:
        """What ``predict`` must return, in the student's words."""
        raise NotImplementedError

    def predicted(self) -> str:
        """What predict's probabilities are of, for hints ("malignant", "each class")."""
        return "each class"

    def metric_defaults(self) -> dict[str, Any]:
        """Options every metric of the task gets from the contract, where it takes them
        (e.g. the decision threshold, the number of classes)."""
        return {}
