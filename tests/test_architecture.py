"""The layers stay apart: the import contracts in pyproject.toml, checked by import-linter."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO

LINT_IMPORTS = shutil.which("lint-imports")


@pytest.mark.skipif(LINT_IMPORTS is None, reason="import-linter is not installed ('.[test]')")
def test_the_import_contracts_are_kept():
    done = subprocess.run([LINT_IMPORTS], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
