"""The suite carries its own test data: a plain clone, with nothing beside it, runs every test."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from tests.servers import REPO_ROOT, TESTDATA_MEDIA

# Spelt in pieces so this file does not match what it looks for.
_SIBLING_FOLDER = re.compile(r"\.\." + r"/shared\b|parent\s*/\s*\"shared\"")
_NOT_OURS = {"node_modules", "__pycache__", ".pytest_cache", ".hypothesis"}
_MEDIA_SUFFIXES = {".jpg", ".png", ".gif", ".webp", ".avif", ".pyc"}


def test_test_media_lives_inside_the_repository() -> None:
    root = REPO_ROOT.resolve()

    assert (root / "pyproject.toml").is_file()
    assert TESTDATA_MEDIA.resolve().is_relative_to(root)
    media = sorted(TESTDATA_MEDIA.iterdir())
    assert len(media) > 10
    outside = [path.name for path in media if not path.resolve().is_relative_to(root)]
    assert outside == [], "test media must be files in the checkout, not links out of it"


def test_every_media_file_is_described_in_the_folder_readme() -> None:
    readme = (TESTDATA_MEDIA / "README.md").read_text()
    described = set(re.findall(r"`([\w.-]+\.\w+)`", readme))

    files = {path.name for path in TESTDATA_MEDIA.iterdir() if path.name != "README.md"}

    assert files - described == set(), "say in the README what each test file exercises"


def _our_files(folder: Path) -> Iterator[Path]:
    for directory, subdirectories, names in os.walk(folder):
        subdirectories[:] = [name for name in subdirectories if name not in _NOT_OURS]
        for name in names:
            if Path(name).suffix not in _MEDIA_SUFFIXES:
                yield Path(directory) / name


def test_no_test_benchmark_or_ci_script_reaches_for_a_sibling_folder() -> None:
    checked = [path for folder in ("tests", "benchmarks", "scripts", ".ci") for path in _our_files(REPO_ROOT / folder)]
    offenders = []
    for path in checked:
        text = path.read_text(errors="replace")
        for hit in _SIBLING_FOLDER.finditer(text):
            offenders.append(f"{path.relative_to(REPO_ROOT)}:{text.count(chr(10), 0, hit.start()) + 1}")

    assert len(checked) > 20
    assert offenders == []
