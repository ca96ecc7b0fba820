"""Both build paths, the preload requirement and the single control database."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from pgwarden.sandbox import Cluster, pg_bindir
from support.clusters import ClusterFactory

PGWARDEN = [sys.executable, "-m", "pgwarden.cli"]


def pg_config_value(flag: str) -> str:
    """What the suite's pg_config says for flag (--sharedir, --version ...)."""
    return subprocess.run([str(pg_bindir() / "pg_config"), flag], check=True,
                          capture_output=True, text=True).stdout.strip()


def server_major() -> int:
    """The major of the PostgreSQL the suite runs on (and pgwarden was built for)."""
    return int(pg_config_value("--version").split()[1].split(".")[0])


def run_cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PGWARDEN, *args], capture_output=True, text=True, input=input,
                          check=False)


@pytest.fixture(scope="module")
def pg_copy() -> Iterator[Path]:
    """A relocated copy of the PostgreSQL installation with no pgwarden in it."""
    bindir = pg_bindir()
    # The installation's directories, each copied to the same place under a new
    # root (pg_config and the server find theirs relative to their own bindir):
    # the bindir's parent holds lib too in Debian's layout and in a plain prefix.
    dirs = [bindir.parent, *(Path(pg_config_value(f)) for f in ("--sharedir", "--pkglibdir"))]
    tops = [d for d in dirs if not any(o != d and o in d.parents for o in dirs)]
    # Not under pytest's private tmp directory: the postgres user must reach it.
    root = Path(tempfile.mkdtemp(prefix="pgwarden-pgroot-"))
    root.chmod(0o755)
    for src in dict.fromkeys(tops):
        dest = root / src.relative_to("/")
        shutil.copytree(src, dest, symlinks=True)
    # pgwarden's own files (library, bitcode, control file, scripts), and only
    # those: the installation's path may itself contain the word.
    ours = [root / d.relative_to("/") for d in (dirs[2], dirs[1] / "extension")]
    for p in [p for d in ours for p in d.rglob("pgwarden*")]:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    for parent in [root, *root.rglob("*")]:
        if parent.is_dir():
            parent.chmod(0o755)
    yield root / bindir.relative_to("/")
    shutil.rmtree(root, ignore_errors=True)


def test_pip_package_installs_a_working_extension(
        private_cluster: ClusterFactory, pg_copy: Path) -> None:
    pg_config = pg_copy / "pg_config"
    libdir = Path(subprocess.run([str(pg_config), "--pkglibdir"], check=True,
                                 capture_output=True, text=True).stdout.strip())
    assert not (libdir / "pgwarden.so").exists()
    out = run_cli("install", "--pg-config", str(pg_config))
    assert out.returncode == 0, out.stderr
    assert f"wrote {libdir / 'pgwarden.so'}" in out.stdout
    assert "shared_preload_libraries = 'pgwarden'" in out.stdout
    assert (libdir / "pgwarden.so").is_file()

    c = private_cluster(bindir=pg_copy)
    with c.connect() as conn:
        conn.execute("CREATE EXTENSION pgwarden")
        with pytest.raises(errors.InvalidParameterValue):
            conn.execute("CREATE ROLE regress_p PASSWORD 'Summer2024!'")
    out = run_cli("install", "--check", "--dsn", c.local_dsn(), "--output", "json")
    assert out.returncode == 0, out.stderr
    assert '"created": true' in out.stdout


def test_install_refuses_another_major_version(tmp_path: Path) -> None:
    built = server_major()
    other = 16 if built == 15 else 15
    fake = tmp_path / "pg_config"
    fake.write_text(f"#!/bin/sh\n[ \"$1\" = --version ] && echo 'PostgreSQL {other}.4' && exit 0\n"
                    "echo /nonexistent\n")
    fake.chmod(0o755)
    out = run_cli("install", "--pg-config", str(fake))
    assert out.returncode == 1
    assert f"built for PostgreSQL {built}." in out.stderr
    assert f"is PostgreSQL {other}.4" in out.stderr


def test_install_check_reports_the_suite_server(cluster: Cluster) -> None:
    out = run_cli("install", "--check", "--dsn", cluster.local_dsn())
    assert out.returncode == 0, out.stderr
    assert "installed: yes (version 0.2.0)" in out.stdout
    assert "preloaded: yes" in out.stdout
    assert "created:   yes (database regress_control)" in out.stdout


def test_refuses_to_load_outside_shared_preload_libraries(private_cluster: ClusterFactory) -> None:
    c = private_cluster(preload=False, tls=False)
    with c.connect() as conn:
        with pytest.raises(errors.ObjectNotInPrerequisiteState) as exc_info:
            conn.execute("LOAD 'pgwarden'")
        assert exc_info.value.diag.message_primary == (
            "pgwarden must be loaded via shared_preload_libraries")
    out = run_cli("install", "--check", "--dsn", c.local_dsn())
    assert out.returncode == 1
    assert "preloaded: no" in out.stdout


def test_second_database_refused(cluster: Cluster, postgresql: psycopg.Connection[Any]) -> None:
    postgresql.autocommit = True
    with pytest.raises(errors.DuplicateObject) as exc_info:
        postgresql.execute("CREATE EXTENSION pgwarden")
    diag = exc_info.value.diag
    assert diag.message_primary == 'pgwarden is already installed in database "regress_control"'
    assert diag.message_hint is not None and "regress_control" in diag.message_hint


def test_drop_extension_frees_the_control_database(private_cluster: ClusterFactory) -> None:
    c = private_cluster(tls=False)
    with c.connect() as conn:
        conn.execute("CREATE DATABASE regress_a")
        conn.execute("CREATE DATABASE regress_b")
    with c.connect("regress_a") as a, c.connect("regress_b") as b:
        a.execute("CREATE EXTENSION pgwarden")
        # DROP ... IF EXISTS elsewhere must not free the mark.
        b.execute("DROP EXTENSION IF EXISTS pgwarden")
        with pytest.raises(errors.DuplicateObject):
            b.execute("CREATE EXTENSION pgwarden")
        # A rolled-back DROP keeps it too.
        a.execute("BEGIN")
        a.execute("DROP EXTENSION pgwarden")
        a.execute("ROLLBACK")
        with pytest.raises(errors.DuplicateObject):
            b.execute("CREATE EXTENSION pgwarden")
        a.execute("DROP EXTENSION pgwarden")
        b.execute("CREATE EXTENSION pgwarden")
        assert b.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgwarden'"
                         ).fetchone() == ("0.2.0",)


def test_password_hook_chains_to_an_earlier_one() -> None:
    """contrib passwordcheck loaded first: pgwarden decides first, then calls it."""
    with Cluster(tls=False, conf=["shared_preload_libraries = 'passwordcheck,pgwarden'"]
                 ).init() as c:
        c.start()
        with c.connect() as conn:
            # pgwarden refuses first: passwordcheck would let this one through.
            with pytest.raises(errors.InvalidParameterValue) as exc_info:
                conn.execute("CREATE ROLE regress_c PASSWORD 'Summer2024!'")
            assert "too weak" in (exc_info.value.diag.message_primary or "")
            # Random lowercase letters satisfy pgwarden, not passwordcheck's letters+nonletters rule.
            with pytest.raises(errors.InvalidParameterValue) as exc_info:
                conn.execute("CREATE ROLE regress_c PASSWORD 'qzmvtrplxkwjhfdnbsgc'")
            assert exc_info.value.diag.message_primary == (
                "password must contain both letters and nonletters")


def _files(*dirs: Path) -> dict[str, str]:
    """Every file under dirs, with a digest of its contents."""
    import hashlib
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


def _pg_dirs(pg_config: Path) -> tuple[Path, Path]:
    def q(flag: str) -> str:
        return subprocess.run([str(pg_config), flag], check=True, capture_output=True,
                              text=True).stdout.strip()
    return Path(q("--pkglibdir")), Path(q("--sharedir")) / "extension"


def _mapped_library(pid: int) -> tuple[int, bool]:
    """Inode of the pgwarden.so the process has mapped, and whether that file was deleted."""
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and "pgwarden.so" in fields[5]:
            return int(fields[4]), fields[5].endswith("(deleted)")
    raise AssertionError(f"process {pid} has no pgwarden.so mapped")


def test_install_over_a_running_server_replaces_the_library_beside_it(
        private_cluster: ClusterFactory, pg_copy: Path) -> None:
    """The library is renamed into place: the running server keeps the one it mapped,
    sessions old and new keep working, the restart maps the new file."""
    pg_config = pg_copy / "pg_config"
    libdir, _ = _pg_dirs(pg_config)
    out = run_cli("install", "--pg-config", str(pg_config))
    assert out.returncode == 0, out.stderr
    library = libdir / "pgwarden.so"
    packaged = library.read_bytes()
    # An "older build" is running: same code, different bytes (trailing padding).
    old = libdir / ".old-build"
    old.write_bytes(packaged + b"\0" * 64)
    old.chmod(0o755)
    old.replace(library)

    c = private_cluster(bindir=pg_copy, tls=False)
    postmaster = int((c.data / "postmaster.pid").read_text().split()[0])
    with c.connect() as conn:
        conn.execute("CREATE EXTENSION pgwarden")
        before = conn.execute("SELECT pgwarden.entropy_bits('Summer2024!')").fetchone()
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        inode, deleted = _mapped_library(postmaster)
        assert inode == library.stat().st_ino and not deleted

        out = run_cli("install", "--pg-config", str(pg_config))
        assert out.returncode == 0, out.stderr
        assert (f"replaced {library} (running servers keep the library they loaded "
                "until they restart)") in out.stdout.splitlines()
        assert library.read_bytes() == packaged
        assert library.stat().st_ino != inode

        # The open session, its backend and the postmaster still run the old file.
        assert conn.execute("SELECT pgwarden.entropy_bits('Summer2024!')").fetchone() == before
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == backend
        assert _mapped_library(postmaster) == (inode, True)
        assert _mapped_library(backend) == (inode, True)
        # A new session forks from the postmaster: the same library, hooks active.
        with c.connect() as fresh:
            assert _mapped_library(fresh.execute("SELECT pg_backend_pid()").fetchone()[0]
                                   ) == (inode, True)
            with pytest.raises(errors.InvalidParameterValue):
                fresh.execute("CREATE ROLE regress_p PASSWORD 'Summer2024!'")
    assert "terminated by signal" not in c.read_log()

    c.restart()
    postmaster = int((c.data / "postmaster.pid").read_text().split()[0])
    assert _mapped_library(postmaster) == (library.stat().st_ino, False)
    with c.connect() as conn:
        assert conn.execute("SELECT pgwarden.entropy_bits('Summer2024!')").fetchone() == before


def test_uninstall_removes_exactly_what_install_wrote(pg_copy: Path) -> None:
    pg_config = pg_copy / "pg_config"
    libdir, extdir = _pg_dirs(pg_config)
    run_cli("uninstall", "--pg-config", str(pg_config))
    for p in [*libdir.glob("pgwarden*"), *extdir.glob("pgwarden*")]:
        p.unlink()
    # Someone else's file that looks like ours: not in the manifest, so kept.
    (extdir / "pgwarden--0.0.9--0.1.0.sql").write_text("-- not written by pgwarden install\n")
    baseline = _files(libdir, extdir)

    out = run_cli("install", "--pg-config", str(pg_config))
    assert out.returncode == 0, out.stderr
    written = set(_files(libdir, extdir)) - set(baseline)
    wrote = {line.split()[1] for line in out.stdout.splitlines() if line.startswith("wrote ")}
    assert wrote == written
    assert {str(libdir / "pgwarden.so"), str(extdir / "pgwarden.control"),
            str(extdir / "pgwarden--0.1.0.sql"), str(extdir / "pgwarden--0.1.0--0.2.0.sql"),
            str(extdir / "pgwarden.manifest")} <= written
    # No temporary file is left beside the destinations.
    assert not [p for p in [*libdir.iterdir(), *extdir.iterdir()] if p.name.endswith(".tmp")]

    # Installing again writes nothing new.
    again = run_cli("install", "--pg-config", str(pg_config))
    assert again.returncode == 0, again.stderr
    assert [ln for ln in again.stdout.splitlines() if ln.startswith(("wrote", "replaced"))] == [
        f"wrote {extdir / 'pgwarden.manifest'} (the list pgwarden uninstall removes)"]

    # A file replaced since (say by make install of another build) is not ours to remove.
    changed = extdir / "pgwarden--0.1.0.sql"
    changed.write_text(changed.read_text() + "-- another build\n")

    out = run_cli("uninstall", "--pg-config", str(pg_config))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert f"kept {changed} (changed since pgwarden install wrote it)" in lines
    removed = {line.split()[1] for line in lines if line.startswith("removed ")}
    assert removed == written - {str(changed)}
    assert lines[0] == f"removed {extdir / 'pgwarden.control'}"   # no new CREATE EXTENSION first
    assert _files(libdir, extdir) == {**baseline, str(changed): _files(extdir)[str(changed)]}

    out = run_cli("uninstall", "--pg-config", str(pg_config))
    assert out.returncode == 1
    assert "no install manifest" in out.stderr and "nothing was removed" in out.stderr
    changed.unlink()
    (extdir / "pgwarden--0.0.9--0.1.0.sql").unlink()
