"""Build both halves of pgwarden from the same sources.

* ``pgwarden._entropy``: the Cython binding over ext/entropy.c.
* ``pgwarden/_pg``: the PostgreSQL extension (shared library, control file,
  SQL scripts) as the PGXS Makefile builds it (``make all``), shipped as
  package data; ``pgwarden install`` copies it into a PostgreSQL installation.

Set PG_CONFIG to choose the PostgreSQL installation.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent.resolve()
ESTIMATOR_SOURCES = ["ext/entropy.c", "ext/entropy_data.c"]


def pg_config(flag: str) -> str:
    exe = os.environ.get("PG_CONFIG", "pg_config")
    try:
        out = subprocess.run([exe, flag], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(
            f"pgwarden: cannot run {exe} {flag} ({exc}); install postgresql-server-dev-15 "
            "or set PG_CONFIG to the pg_config of your PostgreSQL installation"
        ) from exc
    return out.stdout.strip()


def make_server_library() -> None:
    """The server library and the SQL scripts, built by the PGXS Makefile: the
    one build of the server side (its OBJS, flags and generated scripts)."""
    exe = os.environ.get("PG_CONFIG", "pg_config")
    jobs = str(os.cpu_count() or 1)
    subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "-j", jobs, "all",
                    f"PG_CONFIG={exe}"], check=True)


class BuildWithServerLibrary(build_ext):
    """build_ext that also compiles the server extension into pgwarden/_pg."""

    def run(self) -> None:
        super().run()
        self.build_server_library()

    def build_server_library(self) -> None:
        out_dir = Path(self.build_lib) / "pgwarden" / "_pg"
        if self.inplace:
            out_dir = ROOT / "python" / "pgwarden" / "_pg"
        (out_dir / "extension").mkdir(parents=True, exist_ok=True)
        make_server_library()
        shutil.copy2(ROOT / "pgwarden.so", out_dir / "pgwarden.so")
        shutil.copy2(ROOT / "pgwarden.control", out_dir / "extension")
        for script in glob.glob(str(ROOT / "sql" / "pgwarden--*.sql")):
            shutil.copy2(script, out_dir / "extension")
        (out_dir / "PG_VERSION").write_text(pg_config("--version") + "\n")


setup(
    ext_modules=cythonize(
        [
            Extension(
                "pgwarden._entropy",
                sources=["python/pgwarden/_entropy.pyx", *ESTIMATOR_SOURCES],
                include_dirs=["ext"],
                extra_compile_args=["-O2"],
            )
        ],
        language_level=3,
    ),
    cmdclass={"build_ext": BuildWithServerLibrary},
)
