"""The map's pure JavaScript modules, unit-tested with Node's built-in runner (`node --test`), so
`make test` covers them too. The specs are frontend/tests/*.test.mjs; this runs them and shows
Node's report when one fails."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"


def test_frontend_unit_tests_pass():
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (scripts/setup.sh installs it for the front-end build)")
    specs = sorted(str(p.relative_to(FRONTEND)) for p in (FRONTEND / "tests").glob("*.test.mjs"))
    assert specs, "no frontend/tests/*.test.mjs found"
    run = subprocess.run(
        [node, "--test", *specs], cwd=FRONTEND, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    passed = [line for line in run.stdout.splitlines() if line.startswith("# pass ")]
    assert passed and int(passed[-1].split()[-1]) > 0, run.stdout[-2000:]
