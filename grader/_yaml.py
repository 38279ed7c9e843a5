"""Reading YAML spec files into pydantic models, with errors that name file and field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from grader.errors import SpecError
from grader.suggest import suggest

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_yaml_mapping(path: Path) -> dict[str, object]:
    """Parse ``path`` as a YAML mapping; syntax errors name the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(path, ["file not found"]) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise SpecError(path, [f"{where}invalid YAML ({problem})"]) from None
    if not isinstance(document, dict):
        raise SpecError(path, [f"expected a mapping of fields at the top level, got {document!r}"])
    return document


def parse_model(model: type[ModelT], document: dict[str, object], path: Path) -> ModelT:
    """Validate ``document`` against ``model``; every problem names its field path."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise SpecError(path, [_describe(model, e, document) for e in error.errors()]) from None


def _describe(model: type[BaseModel], error: object, document: object) -> str:
    assert isinstance(error, dict)
    location = _field_path(error["loc"], document, missing=error["type"] == "missing")
    kind = error["type"]
    if kind == "missing":
        return f"{location}: required field is missing"
    if kind == "extra_forbidden":
        return f"{location}: unknown field{_suggest(model, error['loc'])}"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    return f"{location}: {message}; got {_short_repr(value)}"


def _field_path(loc: tuple[object, ...], document: object, *, missing: bool) -> str:
    """Render ``loc`` as ``a.b[2].c``, following the document so that pydantic's tagged-union
    tags (``criteria[1].automatic``), which are not keys of the file, are left out."""
    path, current = "", document
    for position, part in enumerate(loc):
        is_last = position == len(loc) - 1
        if isinstance(current, list) and isinstance(part, int) and part < len(current):
            path, current = f"{path}[{part}]", current[part]
        elif (isinstance(current, dict) and part in current) or (is_last and missing):
            path = f"{path}.{part}" if path else str(part)
            current = current.get(part) if isinstance(current, dict) else None
    return path or "(top level)"


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _suggest(model: type[BaseModel], loc: tuple[object, ...]) -> str:
    """'did you mean ...?' for a misspelled key, walking nested models along ``loc``."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None or isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        current = _model_in(annotation)
    if current is None:
        return ""
    return suggest(str(loc[-1]), current.model_fields)


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
