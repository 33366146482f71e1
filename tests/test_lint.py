"""The code base stays ruff clean (style, bugs, security rules `S`, Airflow rules `AIR`) and type-checks."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_check_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (it comes with the 'test' extra)")
    result = subprocess.run(
        [ruff, "check", "--output-format", "concise", str(ROOT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_type_checks() -> None:
    """mypy (configured in pyproject.toml) finds no error in the package; unused ignores count.

    Against the newest Airflow line only (its constraints file): the imports ``compat`` falls back on
    for older lines are typed for that one.
    """
    pins = (ROOT / "constraints" / "airflow-3.3.txt").read_text().splitlines()
    if f"apache-airflow=={importlib.metadata.version('apache-airflow')}" not in pins:
        pytest.skip("the package is type-checked against the Airflow of constraints/airflow-3.3.txt")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert (ROOT / "airflow_provider_airbyte_sync" / "py.typed").exists()  # users' checkers read our hints
