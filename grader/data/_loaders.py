"""The dataset-loader registry: medgrade's own loaders, installed plug-ins and ``module:function``.

A loader is a function ``(*, data_dir, **params) -> Dataset``: ``params`` are the task's
``dataset.params``, ``data_dir`` the folder the user chose (``--data-dir`` or
``MEDGRADE_DATA``; None when neither was given).  It is named in ``dataset.loader`` by

- its registered name: medgrade's loaders (``table``, ``medmnist``...) and those that
  installed packages declare as entry points in the group ``medgrade.loaders``
  (``[project.entry-points."medgrade.loaders"] icu = "my_course.loaders:load_icu"``);
- or ``module:function`` for a loader in a module on ``sys.path`` that no package declares.

Every loader's signature is checked when it is found, as pluggy checks a hook's: a
mistake in a plug-in is reported by name before any task uses it, and ``dataset.params`` are
checked against the annotations of the loader's parameters when the spec is read.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from grader._plugins import installed_plugins
from grader.data._dataset import Dataset, resolve_data_dir
from grader.errors import DataError, PluginError
from grader.suggest import suggest

ENTRY_POINT_GROUP = "medgrade.loaders"

LoaderFunction = Callable[..., Dataset]
_LOADERS: dict[str, LoaderFunction] = {}
_PLUGINS_LOADED = False


def register_loader(name: str) -> Callable[[LoaderFunction], LoaderFunction]:
    """Register a dataset loader under ``name`` (the value of ``dataset.loader``)."""

    def decorate(function: LoaderFunction) -> LoaderFunction:
        _add(name, function, origin=f"{function.__module__}.{function.__qualname__}")
        return function

    return decorate


def _add(name: str, function: LoaderFunction, *, origin: str) -> None:
    if name in _LOADERS:
        existing = _LOADERS[name]
        raise PluginError(
            f"a dataset loader named {name!r} is already registered "
            f"({existing.__module__}.{existing.__qualname__}); {origin} cannot take its name"
        )
    _check_signature(function, origin)
    _LOADERS[name] = function


def _check_signature(function: object, origin: str) -> None:
    if not callable(function):
        raise PluginError(f"dataset loader {origin} is not a function")
    parameters = inspect.signature(function).parameters
    data_dir = parameters.get("data_dir")
    if data_dir is None or data_dir.kind is not inspect.Parameter.KEYWORD_ONLY:
        raise PluginError(
            f"dataset loader {origin} must take a keyword-only parameter 'data_dir' "
            "(def load(*, data_dir, ...)): medgrade passes the user's data folder through it"
        )
    positional = [
        p.name
        for p in parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL)
    ]
    if positional:
        raise PluginError(
            f"dataset loader {origin} takes positional parameter(s) {positional}; medgrade "
            "passes dataset.params by keyword"
        )


def _load_plugins() -> None:
    """Register the loaders installed packages declare (once, on first use)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    for name, function, origin in installed_plugins(ENTRY_POINT_GROUP, "dataset loader"):
        _add(name, function, origin=origin)


def loader_names() -> list[str]:
    """Names of every registered dataset loader, plug-ins included."""
    _load_plugins()
    return sorted(_LOADERS)


def resolve_loader(name: str) -> LoaderFunction:
    """The loader ``dataset.loader`` names: a registered name or ``module:function``."""
    _load_plugins()
    if name in _LOADERS:
        return _LOADERS[name]
    if ":" not in name:
        raise ValueError(
            f"unknown dataset loader {name!r}{suggest(name, loader_names())}; known: "
            f"{', '.join(loader_names())} (or module:function for your own)"
        )
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import {module_name!r} for loader {name!r}: {error}") from None
    function = getattr(module, attribute, None)
    if function is None:
        raise ValueError(f"module {module_name!r} has no {attribute!r} for loader {name!r}")
    try:
        _check_signature(function, name)
    except PluginError as error:
        raise ValueError(str(error)) from None
    return typing.cast(LoaderFunction, function)


def check_loader_params(name: str, params: Mapping[str, object]) -> list[str]:
    """What is wrong with ``params`` for loader ``name``: unknown or missing parameters,
    and values that do not fit a parameter's annotation (``features: list[str]``)."""
    function = resolve_loader(name)
    parameters = {
        p.name: p for p in inspect.signature(function).parameters.values() if p.name != "data_dir"
    }
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    named = {n: p for n, p in parameters.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
    problems = []
    unknown = sorted(set(params) - set(named))
    if unknown and not takes_any:
        problems.append(
            f"loader {name!r} takes no parameter(s) {unknown}; it accepts {sorted(named)}"
        )
    missing = sorted(n for n, p in named.items() if p.default is p.empty and n not in params)
    if missing:
        problems.append(f"loader {name!r} needs parameter(s) {missing}")
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # unresolvable annotations: only names are checked
        hints = {}
    for key, value in params.items():
        if key not in hints or key not in named:
            continue
        try:
            TypeAdapter(hints[key]).validate_python(value, strict=False)
        except ValidationError as error:
            first = error.errors()[0]
            where = "".join(f"[{part!r}]" for part in first["loc"])
            problems.append(f"params.{key}{where}: {first['msg']}; got {value!r}")
    return problems


def load_dataset(name: str, params: Mapping[str, Any], data_dir: Path | None) -> Dataset:
    """Load dataset ``name`` with the task's ``params`` from ``data_dir`` (default
    ``$MEDGRADE_DATA``)."""
    try:
        loader = resolve_loader(name)
    except ValueError as error:
        raise DataError(str(error)) from None
    return loader(data_dir=resolve_data_dir(data_dir), **params)


def describe_loaders() -> list[tuple[str, str, str, str]]:
    """``(name, module, parameters, first paragraph of its docstring)`` for every
    registered loader."""
    _load_plugins()
    described = []
    for name, function in sorted(_LOADERS.items()):
        summary = (inspect.getdoc(function) or "").split("\n\n")[0].replace("\n", " ")
        parameters = [p for p in inspect.signature(function).parameters if p != "data_dir"]
        described.append((name, function.__module__, ", ".join(parameters), summary))
    return described
