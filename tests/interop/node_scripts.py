"""Runs the Node scripts in js/: each takes a JSON config as its one argument and prints one JSON result."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

INTEROP_DIR = Path(__file__).resolve().parent
NODE_MODULES = INTEROP_DIR / "node_modules"
SCRIPT_TIMEOUT_SECONDS = 60


def run_node_script(node: str, script: str, config: dict[str, Any]) -> dict[str, Any]:
    # subprocess.run kills the script if it outlives the timeout.
    finished = subprocess.run(
        [node, str(INTEROP_DIR / "js" / script), json.dumps(config)],
        cwd=INTEROP_DIR,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
    )
    assert finished.returncode == 0, f"{script} exited {finished.returncode}:\n{finished.stderr}"
    return json.loads(finished.stdout)
