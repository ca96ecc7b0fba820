"""ruff and mypy --strict are clean, and the C files of ext/ depend on each other one
way only: `make test` fails on a lint error, as `make lint` does."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support import ROOT


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=600)


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_tool_installed(tool: str) -> None:
    assert run(tool, "--version").returncode == 0, f"{tool} is missing: make pyinstall"


def test_ruff_clean() -> None:
    out = run("ruff", "check", "--output-format", "concise", "python", "tests", "scripts",
              "bench", "setup.py")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict_clean() -> None:
    out = run("mypy", "--strict", "python/pgwarden")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ext_dependencies_point_one_way() -> None:
    """No include cycle, no two concerns of ext/ using each other, no call cycle
    between the built objects (scripts/check_includes.py; `make test` builds them)."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_includes.py"),
                          "--symbols"], cwd=ROOT, capture_output=True, text=True,
                         check=False, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no call cycle" in out.stdout, out.stdout
