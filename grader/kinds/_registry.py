"""The task-kind registry: medgrade's own kinds and those installed packages declare.

A task has an *input kind* (what ``predict`` receives: ``table``, ``image``, ``signal``,
``volume``, ``text``, ``molecules``) and an *output kind* (what it must return and how that
is scored: ``binary_probability``, ``class_probabilities``, ``label_map``,
``multilabel_probabilities``).  Each kind is one class in
one module: a subclass of :class:`InputKind` or :class:`OutputKind`, registered with
:func:`register_kind`.  Installed packages declare theirs as entry points in the group
``medgrade.kinds`` (``[project.entry-points."medgrade.kinds"] risk_score =
"my_course.kinds:RiskScore"``).

As pluggy checks a hook implementation against its specification, a kind is checked when
it registers: its name must be free, its ``layout`` one the harness knows
(:data:`sandbox.wire.INPUT_LAYOUTS`, :data:`sandbox.wire.OUTPUT_LAYOUTS`), and every method it
overrides must take the base method's parameters, so a mistake in a plug-in is named before
any task uses it.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, TypeVar

from grader._plugins import installed_plugins
from grader.errors import PluginError
from grader.kinds._base import InputKind, OutputKind
from grader.kinds._contract import OutputContract
from grader.suggest import suggest
from sandbox import wire

ENTRY_POINT_GROUP = "medgrade.kinds"

_INPUT_KINDS: dict[str, InputKind] = {}
_OUTPUT_KINDS: dict[str, OutputKind] = {}
_PLUGINS_LOADED = False

KindClass = TypeVar("KindClass", bound=type)
KindT = TypeVar("KindT", InputKind, OutputKind)


def register_kind(cls: KindClass) -> KindClass:
    """Register an :class:`InputKind` or :class:`OutputKind` subclass (a class decorator)."""
    _add(cls, origin=f"{cls.__module__}.{cls.__qualname__}")
    return cls


def _add(cls: object, *, origin: str) -> None:
    if isinstance(cls, type) and issubclass(cls, InputKind):
        registry, base, layouts = _INPUT_KINDS, InputKind, wire.INPUT_LAYOUTS
    elif isinstance(cls, type) and issubclass(cls, OutputKind):
        registry, base, layouts = _OUTPUT_KINDS, OutputKind, wire.OUTPUT_LAYOUTS
    else:
        raise PluginError(f"{origin} is not a subclass of InputKind or OutputKind")
    what = "input" if base is InputKind else "output"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise PluginError(f"{what} kind {origin} needs a class attribute 'name', an identifier")
    if name in registry:
        existing = type(registry[name])
        raise PluginError(
            f"an {what} kind named {name!r} is already registered "
            f"({existing.__module__}.{existing.__qualname__}); {origin} cannot take its name"
        )
    if cls.layout not in layouts:
        raise PluginError(
            f"{what} kind {origin} has layout {cls.layout!r}; the harness knows {list(layouts)}"
        )
    _check_overrides(cls, base, origin)
    kind = cls()
    if isinstance(kind, OutputKind):
        _check_contract(kind, origin)
        _check_per_case(kind, origin)
        _check_results(kind, origin)
    registry[name] = kind  # type: ignore[assignment]


def _check_overrides(cls: type, base: type, origin: str) -> None:
    for attribute, declared in vars(base).items():
        if attribute.startswith("_") or not inspect.isfunction(declared):
            continue
        implemented = getattr(cls, attribute)
        if implemented is declared:
            continue
        expected = list(inspect.signature(declared).parameters)
        found = list(inspect.signature(implemented).parameters)
        if found != expected:
            raise PluginError(
                f"{origin}.{attribute} takes ({', '.join(found)}); the kind protocol calls it "
                f"with ({', '.join(expected)})"
            )


def _check_contract(kind: OutputKind, origin: str) -> None:
    contract = getattr(kind, "contract", None)
    if not (isinstance(contract, type) and issubclass(contract, OutputContract)):
        raise PluginError(
            f"output kind {origin} needs a class attribute 'contract', a subclass of "
            "grader.kinds.OutputContract declaring the kind's spec fields"
        )
    annotation = contract.model_fields["kind"].annotation
    if getattr(annotation, "__args__", None) != (kind.name,):
        raise PluginError(
            f"{origin}.contract must declare kind: Literal[{kind.name!r}], so that a spec's "
            "output.kind picks it"
        )


def _check_per_case(kind: OutputKind, origin: str) -> None:
    if kind.layout != "per_case":
        return
    missing = [
        attribute
        for attribute in ("per_case_shape_of", "per_case_noun", "per_case_expected")
        if not isinstance(getattr(kind, attribute), str)
    ]
    if missing:
        raise PluginError(
            f"output kind {origin} has layout 'per_case' and must say {', '.join(missing)} "
            "(the harness checks each case's output with them)"
        )


def _check_results(kind: OutputKind, origin: str) -> None:
    results = kind.results
    if results is None:
        return
    if not (dataclasses.is_dataclass(results) and isinstance(results, type)):
        raise PluginError(
            f"{origin}.results must be a dataclass (what score() computes besides the metrics)"
        )
    if not callable(getattr(results, "json_fields", None)):
        raise PluginError(
            f"{origin}.results ({results.__qualname__}) needs a method json_fields(), the keys "
            "it adds to the --json document ({} for none)"
        )
    for other in _OUTPUT_KINDS.values():
        if other.results is results:
            raise PluginError(
                f"{origin}.results is {results.__qualname__}, already the results of output "
                f"kind {other.name!r}; each kind's results have a type of their own"
            )


def _load_plugins() -> None:
    """Register the kinds installed packages declare (once, on first use)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    for _name, cls, origin in installed_plugins(ENTRY_POINT_GROUP, "task kind"):
        _add(cls, origin=origin)


def input_kind_names() -> list[str]:
    """Names of every registered input kind, plug-ins included."""
    _load_plugins()
    return sorted(_INPUT_KINDS)


def output_kind_names() -> list[str]:
    """Names of every registered output kind, plug-ins included."""
    _load_plugins()
    return sorted(_OUTPUT_KINDS)


def input_kind(name: str) -> InputKind:
    """The input kind ``inputs.kind`` names."""
    _load_plugins()
    return _lookup(_INPUT_KINDS, name, "input")


def output_kind(name: str) -> OutputKind:
    """The output kind ``output.kind`` names."""
    _load_plugins()
    return _lookup(_OUTPUT_KINDS, name, "output")


def output_kind_of_results(results: object) -> OutputKind:
    """The output kind whose :attr:`~OutputKind.results` ``results`` is an instance of."""
    _load_plugins()
    for kind in _OUTPUT_KINDS.values():
        if kind.results is type(results):
            return kind
    raise ValueError(f"no output kind has results of type {type(results).__qualname__}")


def _lookup(registry: dict[str, KindT], name: str, what: str) -> KindT:
    if name in registry:
        return registry[name]
    known = sorted(registry)
    raise ValueError(
        f"unknown {what} kind {name!r}{suggest(name, known)}; known: {', '.join(known)} (an "
        f"installed package adds more through the entry point group {ENTRY_POINT_GROUP!r})"
    )


def output_contract(value: Any) -> Any:
    """Validate a spec's ``output`` mapping with the contract of the kind it names.

    A field of another kind is named with its kind ("'threshold' is for kind
    'binary_probability'"), which says more than "extra inputs are not permitted".
    """
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
        return value  # not a mapping with a kind: the base model says what is wrong
    if value["kind"] not in output_kind_names():
        return {"kind": value["kind"]}  # the base model's check names output.kind alone
    contract = output_kind(value["kind"]).contract
    for name in value:
        if name in contract.model_fields:
            continue
        owners = [
            other
            for other in output_kind_names()
            if name in output_kind(other).contract.model_fields
        ]
        if owners:
            raise ValueError(
                f"{name!r} is for kind {' or '.join(map(repr, owners))}, not {value['kind']!r}"
            )
    return contract.model_validate(value)


OutputContract.kind_lookup = output_kind
