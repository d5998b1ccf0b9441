"""Lint and type checks are part of the suite, so CI fails on them like on any other broken promise."""

from __future__ import annotations

import subprocess
import sys

from tests.servers import REPO_ROOT


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", ".")

    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_the_product_code() -> None:
    result = _run("mypy", "app", "workers", "config")

    assert result.returncode == 0, result.stdout + result.stderr
