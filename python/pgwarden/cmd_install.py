"""`pgwarden install` and `pgwarden uninstall`: the packaged extension in a PostgreSQL installation.

``pip install pgwarden`` builds the server library with the flags of the
``pg_config`` it found and ships it, the control file and the SQL scripts as
package data under ``pgwarden/_pg``.  ``pgwarden install`` puts them where
that PostgreSQL looks for extensions; ``--check`` asks a running server
whether pgwarden is installed, preloaded and created.

Every file is written beside its destination and renamed over it, never
rewritten in place: a running server keeps the library it has mapped (a
library rewritten in place changes the code under every backend and brings
the server down) and picks up the new one at its next restart.  The library
is replaced before the control file, so a ``CREATE EXTENSION`` that sees the
new default version finds the library that serves it.  ``install`` records
what it wrote, with checksums, in a manifest next to the control file;
``pgwarden uninstall`` removes exactly those files (and keeps any a later
``make install`` or a hand replaced since).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg

from ._cli_util import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    add_command,
    connect,
    print_record,
)

PRELOAD_LINE = "shared_preload_libraries = 'pgwarden'"
MANIFEST = "pgwarden.manifest"
LIBRARY = "pgwarden.so"


def register(sub: Any) -> None:
    p = add_command(sub, "install", help="install the extension into PostgreSQL, or --check it "
                                         "(exit status 1 when something is missing)",
                    example=["pgwarden install --pg-config /usr/lib/postgresql/15/bin/pg_config",
                             "pgwarden install --check --dsn 'dbname=postgres' -o json"])
    p.add_argument("--pg-config", help="pg_config of the target installation (default: PATH)")
    p.add_argument("--check", action="store_true", help="report the state of a running server")
    p.set_defaults(func=cmd_install)

    u = add_command(sub, "uninstall",
                    help="remove the files pgwarden install wrote into PostgreSQL",
                    example="pgwarden uninstall --pg-config /usr/lib/postgresql/15/bin/pg_config")
    u.add_argument("--pg-config", help="pg_config of the target installation (default: PATH)")
    u.set_defaults(func=cmd_uninstall)


def packaged_files() -> Path:
    root = Path(str(resources.files("pgwarden"))) / "_pg"
    if not (root / LIBRARY).is_file():
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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_beside(dest: Path, data: bytes, mode: int) -> None:
    """Write data to a new file next to dest, flush it, then rename it over dest.

    Whoever has dest open or mapped keeps the old file; whoever opens it
    afterwards gets the whole new one.  Nothing is left behind on failure.
    """
    tmp = dest.with_name(f".{dest.name}.pgwarden-{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)


@dataclass(frozen=True)
class FileChange:
    """What install or uninstall did to one file."""

    path: Path
    action: str  # install: wrote, replaced, unchanged; uninstall: removed, kept, missing
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "action": self.action, "note": self.note or None}

    def line(self) -> str:
        return f"{self.action} {self.path}" + (f" ({self.note})" if self.note else "")


def _directories(exe: str) -> tuple[Path, Path]:
    libdir = Path(_pg_config(exe, "--pkglibdir"))
    extdir = Path(_pg_config(exe, "--sharedir")) / "extension"
    return libdir, extdir


def _read_manifest(path: Path) -> dict[str, str]:
    """path -> sha256 of every file a previous install recorded."""
    try:
        data = json.loads(path.read_text())
        return {str(f["path"]): str(f["sha256"]) for f in data["files"]}
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError) as exc:
        raise CommandError(f"cannot read the install manifest {path}: {exc}",
                           EXIT_FAILED) from exc


def install(pg_config: str | None = None) -> list[FileChange]:
    """Put the packaged extension into the installation; return what was done to each file.

    Order: SQL scripts, then the library, then the control file (which
    names the default version), then the manifest.
    """
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
    libdir, extdir = _directories(exe)
    extension = sorted((src / "extension").iterdir())
    plan = ([(f, extdir / f.name, 0o644) for f in extension if f.suffix != ".control"]
            + [(src / LIBRARY, libdir / LIBRARY, 0o755)]
            + [(f, extdir / f.name, 0o644) for f in extension if f.suffix == ".control"])
    manifest_path = extdir / MANIFEST
    recorded = _read_manifest(manifest_path)
    changes: list[FileChange] = []
    for source, dest, mode in plan:
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if dest.is_file() and _sha256(dest) == digest:
            changes.append(FileChange(dest, "unchanged"))
        else:
            existed = dest.exists()
            _write_beside(dest, data, mode)
            note = ""
            if existed and dest.name == LIBRARY:
                note = "running servers keep the library they loaded until they restart"
            changes.append(FileChange(dest, "replaced" if existed else "wrote", note))
        recorded[str(dest)] = digest
    manifest = {"package": "pgwarden", "built_for": built_for,
                "files": [{"path": p, "sha256": s} for p, s in sorted(recorded.items())]}
    _write_beside(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode(), 0o644)
    changes.append(FileChange(manifest_path, "wrote", "the list pgwarden uninstall removes"))
    return changes


def uninstall(pg_config: str | None = None) -> list[FileChange]:
    """Remove the files the manifest lists, control file first, library last.

    A file whose contents changed since install wrote it (a later ``make
    install``, a hand edit) is kept.  Without a manifest nothing is removed.
    """
    exe = pg_config or os.environ.get("PG_CONFIG") or "pg_config"
    _, extdir = _directories(exe)
    manifest_path = extdir / MANIFEST
    recorded = _read_manifest(manifest_path)
    if not recorded:
        raise CommandError(
            f"no install manifest at {manifest_path}: pgwarden install did not write this "
            "installation, so nothing was removed (files put there by make install are "
            "removed with make uninstall)", EXIT_FAILED)

    def order(path: str) -> int:
        return 0 if path.endswith(".control") else 2 if path.endswith(".so") else 1

    changes: list[FileChange] = []
    for name in sorted(recorded, key=lambda p: (order(p), p)):
        path = Path(name)
        if not path.exists():
            changes.append(FileChange(path, "missing", "already gone"))
        elif not path.is_file() or _sha256(path) != recorded[name]:
            changes.append(FileChange(path, "kept",
                                      "changed since pgwarden install wrote it"))
        else:
            path.unlink()
            changes.append(FileChange(path, "removed"))
    for d in {Path(n).parent for n in recorded}:
        if d.is_dir():
            _fsync_dir(d)
    manifest_path.unlink()
    changes.append(FileChange(manifest_path, "removed"))
    return changes


def check(dsn: str) -> dict[str, Any]:
    """Whether the server has pgwarden installed, preloaded and created."""
    with connect(dsn) as conn:
        installed = conn.execute(
            "SELECT default_version, installed_version FROM pg_catalog.pg_available_extensions"
            " WHERE name = 'pgwarden'"
        ).fetchone()
        try:
            with conn.transaction():
                preload = conn.execute("SHOW shared_preload_libraries").fetchone()
            libs = [x.strip().strip('"') for x in (preload[0] if preload else "").split(",")]
            preloaded = "pgwarden" in libs
        except psycopg.errors.InsufficientPrivilege:
            # Not a superuser (nor pg_read_all_settings): the library loads only
            # through shared_preload_libraries, and defines its settings there.
            row = conn.execute("SELECT count(*) FROM pg_catalog.pg_settings"
                               " WHERE name LIKE 'pgwarden.%'").fetchone()
            preloaded = bool(row and row[0])
        # the mark on pgwarden_admin names the control database; a mark that
        # globals.sql brought from another cluster names a database without
        # the control label
        mark = conn.execute(
            "SELECT d.datname FROM pg_catalog.pg_shdescription s"
            " JOIN pg_catalog.pg_roles r ON r.oid = s.objoid AND r.rolname = 'pgwarden_admin'"
            " JOIN pg_catalog.pg_database d"
            "   ON s.description = 'pgwarden control database ' || d.oid::text"
            " JOIN pg_catalog.pg_shseclabel l ON l.objoid = d.oid"
            "  AND l.classoid = 'pg_catalog.pg_database'::pg_catalog.regclass"
            "  AND l.provider = 'pgwarden_control'"
            " WHERE s.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass"
        ).fetchone()
    return {
        "installed": installed is not None,
        "version": installed[0] if installed else None,
        "preloaded": preloaded,
        "created": mark is not None,
        "control_database": mark[0] if mark else None,
    }


def cmd_install(args: argparse.Namespace) -> int:
    if args.check:
        state = check(args.dsn)
        if args.output == "json":
            print_record(state, "json")
        else:
            yes = {True: "yes", False: "no"}
            print(f"installed: {yes[state['installed']]}"
                  + (f" (version {state['version']})" if state["installed"] else ""))
            print(f"preloaded: {yes[state['preloaded']]}")
            print(f"created:   {yes[state['created']]}"
                  + (f" (database {state['control_database']})" if state["created"] else ""))
        ok = state["installed"] and state["preloaded"] and state["created"]
        return EXIT_OK if ok else EXIT_FAILED
    changes = install(args.pg_config)
    if args.output == "json":
        print_record({"changes": [c.as_dict() for c in changes], "preload_line": PRELOAD_LINE},
                     "json")
        return EXIT_OK
    for change in changes:
        print(change.line())
    print("Now add this line to postgresql.conf and restart the server:")
    print(f"  {PRELOAD_LINE}")
    print("then run CREATE EXTENSION pgwarden; in the control database "
          "(or ALTER EXTENSION pgwarden UPDATE; where it already exists).")
    return EXIT_OK


def cmd_uninstall(args: argparse.Namespace) -> int:
    changes = uninstall(args.pg_config)
    if args.output == "json":
        print_record({"changes": [c.as_dict() for c in changes]}, "json")
        return EXIT_OK
    for change in changes:
        print(change.line())
    if any(c.action == "removed" and c.path.name == LIBRARY for c in changes):
        print("Running servers keep the library they loaded; a server with pgwarden in "
              "shared_preload_libraries will not start again until you remove it from there.")
    return EXIT_OK
