"""Build both halves of pgwarden from the same sources.

* ``pgwarden._entropy``: the Cython binding over ext/entropy.c.
* ``pgwarden/_pg``: the PostgreSQL extension (shared library compiled with the
  flags ``pg_config`` reports, control file, SQL scripts) shipped as package
  data; ``pgwarden install`` copies it into a PostgreSQL installation.

Set PG_CONFIG to choose the PostgreSQL installation.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent.resolve()
EXT_DIR = ROOT / "ext"
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


def server_sources() -> list[str]:
    """The C files of the server library: the Makefile's OBJS, the one list of them."""
    return [str(ROOT / o.replace(".o", ".c")) for o in makefile_list("OBJS")]


def makefile_list(variable: str) -> list[str]:
    """A file list of the Makefile (OBJS, DATA_built): the one place it is kept."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    match = re.search(rf"^{variable}\s*=(.*)$", text, re.MULTILINE)
    if not match:
        raise SystemExit(f"pgwarden: no {variable} line in the Makefile")
    return match.group(1).split()


def build_upgrade_scripts() -> None:
    """Each built script sql/pgwarden--A--B.sql from its parts sql/B/*.sql, as make does."""
    for built in makefile_list("DATA_built"):
        version = built.rsplit("--", 1)[1].removesuffix(".sql")
        parts = sorted((ROOT / "sql" / version).glob("*.sql"))
        (ROOT / built).write_text("".join(p.read_text() for p in parts))


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
        sources = server_sources()
        cc = shlex.split(pg_config("--cc"))
        cflags = shlex.split(pg_config("--cflags")) + shlex.split(pg_config("--cflags_sl"))
        cppflags = shlex.split(pg_config("--cppflags"))
        include = ["-I" + str(EXT_DIR), "-I" + pg_config("--includedir-server")]
        ldflags = shlex.split(pg_config("--ldflags"))
        target = out_dir / "pgwarden.so"
        cmd = [*cc, *cflags, *cppflags, *include, "-shared", "-o", str(target), *sources,
               *ldflags, "-lm"]
        print("building server library:", " ".join(cmd))
        subprocess.run(cmd, check=True)
        shutil.copy2(ROOT / "pgwarden.control", out_dir / "extension")
        build_upgrade_scripts()
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
