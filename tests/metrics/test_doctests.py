"""Every example in the metric engine's docstrings runs, module by module."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import grader.metrics

MODULES = sorted(
    name for _, name, _ in pkgutil.iter_modules(grader.metrics.__path__, "grader.metrics.")
)


@pytest.mark.parametrize("name", ["grader.metrics", *MODULES])
def test_the_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, name


def test_the_engine_has_examples_to_run():
    modules = [grader.metrics, *(importlib.import_module(name) for name in MODULES)]
    finder = doctest.DocTestFinder()
    examples = sum(len(test.examples) for m in modules for test in finder.find(m))
    assert examples >= 100
