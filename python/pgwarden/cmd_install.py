"""`pgwarden install`: put the packaged extension into a PostgreSQL installation.

``pip install pgwarden`` builds the server library with the flags of the
``pg_config`` it found and ships it, the control file and the SQL scripts as
package data under ``pgwarden/_pg``.  ``pgwarden install`` copies them where
that PostgreSQL looks for extensions; ``--check`` asks a running server
whether pgwarden is installed, preloaded and created.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from ._cli_util import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    add_listing_arguments,
    connect,
)

PRELOAD_LINE = "shared_preload_libraries = 'pgwarden'"


def register(sub: Any) -> None:
    p = sub.add_parser("install", help="install the extension into PostgreSQL, or --check it")
    p.add_argument("--pg-config", help="pg_config of the target installation (default: PATH)")
    p.add_argument("--check", action="store_true", help="report the state of a running server")
    add_listing_arguments(p)
    p.set_defaults(func=cmd_install)


def packaged_files() -> Path:
    root = Path(str(resources.files("pgwarden"))) / "_pg"
    if not (root / "pgwarden.so").is_file():
        raise CommandError(
            "this pgwarden package carries no server library (built without pg_config?)",
            EXIT_FAILED,
        )
    return root


def _pg_config(exe: str, flag: str) -> str:
    try:
        return subprocess.run(
            [exe, flag], check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise CommandError(f"cannot run {exe} {flag}: {exc}") from exc


def _major(version_line: str) -> str:
    m = re.search(r"(\d+)", version_line)
    return m.group(1) if m else "?"


def install(pg_config: str | None = None) -> list[Path]:
    """Copy the packaged extension into the installation; return the files written."""
    exe = pg_config or os.environ.get("PG_CONFIG") or "pg_config"
    src = packaged_files()
    built_for = (src / "PG_VERSION").read_text().strip()
    target = _pg_config(exe, "--version")
    if _major(built_for) != _major(target):
        raise CommandError(
            f"this package was built for {built_for} but {exe} is {target}; "
            "reinstall pgwarden with PG_CONFIG pointing at that installation",
            EXIT_FAILED,
        )
    libdir = Path(_pg_config(exe, "--pkglibdir"))
    extdir = Path(_pg_config(exe, "--sharedir")) / "extension"
    written = []
    for source, dest_dir in [(src / "pgwarden.so", libdir)] + [
        (f, extdir) for f in sorted((src / "extension").iterdir())
    ]:
        dest = dest_dir / source.name
        shutil.copyfile(source, dest)
        dest.chmod(0o755 if dest.suffix == ".so" else 0o644)
        written.append(dest)
    return written


def check(dsn: str) -> dict[str, Any]:
    """Whether the server has pgwarden installed, preloaded and created."""
    with connect(dsn) as conn:
        installed = conn.execute(
            "SELECT default_version, installed_version FROM pg_catalog.pg_available_extensions"
            " WHERE name = 'pgwarden'"
        ).fetchone()
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
        mark = conn.execute(
            "SELECT d.datname FROM pg_catalog.pg_shdescription s"
            " JOIN pg_catalog.pg_roles r ON r.oid = s.objoid AND r.rolname = 'pgwarden_admin'"
            " JOIN pg_catalog.pg_database d"
            "   ON s.description = 'pgwarden control database ' || d.oid::text"
            " WHERE s.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass"
        ).fetchone()
    libs = [x.strip().strip('"') for x in (preload[0] if preload else "").split(",")]
    return {
        "installed": installed is not None,
        "version": installed[0] if installed else None,
        "preloaded": "pgwarden" in libs,
        "created": mark is not None,
        "control_database": mark[0] if mark else None,
    }


def cmd_install(args: argparse.Namespace) -> int:
    if args.check:
        state = check(args.dsn)
        if args.output == "json":
            json.dump(state, sys.stdout)
            sys.stdout.write("\n")
        else:
            yes = {True: "yes", False: "no"}
            print(f"installed: {yes[state['installed']]}"
                  + (f" (version {state['version']})" if state["installed"] else ""))
            print(f"preloaded: {yes[state['preloaded']]}")
            print(f"created:   {yes[state['created']]}"
                  + (f" (database {state['control_database']})" if state["created"] else ""))
        ok = state["installed"] and state["preloaded"] and state["created"]
        return EXIT_OK if ok else EXIT_FAILED
    for path in install(args.pg_config):
        print(f"wrote {path}")
    print("Now add this line to postgresql.conf and restart the server:")
    print(f"  {PRELOAD_LINE}")
    print("then run CREATE EXTENSION pgwarden; in the control database.")
    return EXIT_OK
