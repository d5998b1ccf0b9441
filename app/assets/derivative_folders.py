"""Where an asset's derivatives live on disk, and the hidden folders beside them that a processing
attempt writes into and a replaced set is retired to.

Each attempt writes into ``.<id>.attempt-<n>``, which is swapped in for ``<id>`` in the same step as
the row's change to ``ready``; the set it replaces becomes ``.<id>.retired`` until the attempt removes
it. A worker killed mid-job leaves its attempt's folder behind, and a crash between the swap and the
clean-up leaves the retired one: the recovery sweep removes both once no live attempt can own them.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

_SCRATCH = re.compile(r"\.(?P<id>[^.]+)\.attempt-(?P<attempt>[0-9]+)")
_RETIRED = re.compile(r"\.(?P<id>[^.]+)\.retired")


def asset_folder(derivatives_dir: Path, upload_id: str) -> Path:
    return derivatives_dir / upload_id


def scratch_folder(derivatives_dir: Path, upload_id: str, attempt: int) -> Path:
    return derivatives_dir / f".{upload_id}.attempt-{attempt}"


def retired_folder(current: Path) -> Path:
    return current.with_name(f".{current.name}.retired")


@dataclass(frozen=True)
class Leftover:
    path: Path
    upload_id: str
    attempt: int | None  # None: a retired set, which nothing ever uses again


def leftovers(derivatives_dir: Path) -> list[Leftover]:
    """The attempts' and retired sets' folders there are now (blocking: call in a thread). Whether one
    is still in use is the database's to say: see ``Recovery.remove_leftover_attempts``."""
    found = []
    try:
        entries = list(os.scandir(derivatives_dir))
    except FileNotFoundError:
        return []
    for entry in entries:
        named = _SCRATCH.fullmatch(entry.name) or _RETIRED.fullmatch(entry.name)
        if named is None or not entry.is_dir(follow_symlinks=False):
            continue
        attempt = named.groupdict().get("attempt")
        found.append(Leftover(Path(entry.path), named["id"], None if attempt is None else int(attempt)))
    return found


def remove_folders(*folders: Path) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
