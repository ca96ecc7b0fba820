"""Branch operations survive kill -9 of the client and crashes of the server at
every step, and run one at a time per branch.

Each operation stops at a named step when PGWARDEN_TEST_PAUSE_AT says so (a
test hook of pgwarden.branches); the test then kills the client (SIGKILL)
or the server (pg_ctl stop -m immediate) right there, and checks that the
branch is as before or as after and that the next operation (or pgwarden
branches recover) finishes or undoes what was left, with no pgw_* database
remaining.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden.branches import Credential, Project
from pgwarden.sandbox import Cluster
from support.clusters import ClusterFactory

CONTROL_DB = "regress_control"
APP_PASSWORD = "pgw_Lc7vQ2xK9pMw4RtZ8nB5"
PARENT, CHILD = "regress_main", "regress_child"


# -- helpers ---------------------------------------------------------------------------

def cli(dsn: str, *args: str, pause: str | None = None,
        marker: Path | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    if pause is not None:
        assert marker is not None
        env.update(PGWARDEN_TEST_PAUSE_AT=pause, PGWARDEN_TEST_PAUSE_FILE=str(marker))
    return subprocess.Popen([sys.executable, "-m", "pgwarden.cli", *args, "--dsn", dsn],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = cli(dsn, *args)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def paused(dsn: str, step: str, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """The command, stopped at step (still holding its connection and lock)."""
    marker = tmp_path / f"paused-{step.replace(':', '-')}"
    proc = cli(dsn, *args, pause=step, marker=marker)
    deadline = time.monotonic() + 60
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the command ended before {step}: {proc.stderr.read() if proc.stderr else ''}")
        assert time.monotonic() < deadline, f"the command did not reach {step}"
        time.sleep(0.05)
    return proc


def kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def wait_not_running(conn: psycopg.Connection[Any]) -> None:
    """The killed client's backend notices and exits, releasing the lock."""
    deadline = time.monotonic() + 10
    while conn.execute("SELECT count(*) FROM pgwarden.branch_operations WHERE running"
                       ).fetchone() != (0,):
        assert time.monotonic() < deadline, "the killed operation still holds its lock"
        time.sleep(0.05)


def databases(conn: psycopg.Connection[Any], pattern: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1", [pattern])]


def contents(c: Cluster, db: str) -> set[int]:
    with c.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM items WHERE id < 0 OR id >= 5000")}


OLD = {-1}          # the row only the child had before the reset
NEW = {5000}        # the row the parent got after the child was made


def setup_branches(c: Cluster, control: str) -> Credential:
    """A protected parent with a table, a child with its own credentials and an
    endpoint; then the child and the parent diverge."""
    with c.connect() as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'regress_app'").fetchone():
            conn.execute(f"CREATE ROLE regress_app LOGIN PASSWORD '{APP_PASSWORD}'")
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER regress_app").format(sql.Identifier(PARENT)))
    with c.connect(PARENT) as conn:
        conn.execute("SET ROLE regress_app")
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO items SELECT g, 'row' FROM generate_series(1, 100) g")
    project = Project(c.local_dsn(control))
    project.register_branch(PARENT)
    project.protect(PARENT)
    (cred,) = project.create_branch(CHILD, PARENT, strategy="template").credentials
    project.create_endpoint(CHILD, "regress_child_ro", "read_only")
    with psycopg.connect(c.tcp_dsn(cred.role, cred.password, dbname=CHILD), autocommit=True) as conn:
        conn.execute("INSERT INTO items VALUES (-1, 'only in the child')")
    with c.connect(PARENT) as conn:
        conn.execute("SET ROLE regress_app")
        conn.execute("INSERT INTO items VALUES (5000, 'new in the parent')")
    return cred


def assert_clean(c: Cluster, control: str) -> None:
    with c.connect(control) as conn:
        assert databases(conn, "pgw\\_%") == []
        assert conn.execute("SELECT count(*) FROM pgwarden.branch_operations").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pgwarden.branches WHERE state <> 'ready'"
                            ).fetchone() == (0,)


def assert_child_serves(c: Cluster, control: str, cred: Credential, expected: set[int]) -> None:
    """Name, endpoints and credentials kept; the contents as expected."""
    b = Project(c.local_dsn(control)).branch(CHILD)
    assert (b.database, b.parent, b.state) == (CHILD, PARENT, "ready")
    assert set(b.endpoints) == {CHILD, "regress_child_ro"}
    with psycopg.connect(c.tcp_dsn(cred.role, cred.password, dbname=CHILD)) as conn:
        got = {r[0] for r in conn.execute("SELECT id FROM items WHERE id < 0 OR id >= 5000")}
    assert got == expected


@pytest.fixture
def suite(cluster: Cluster) -> Iterator[Cluster]:
    """The session's server; every branch and regress database is removed afterwards."""
    yield cluster
    cleanup(cluster, CONTROL_DB)


def cleanup(c: Cluster, control: str) -> None:
    project = Project(c.local_dsn(control))
    project.recover()
    with c.connect(control) as conn:
        conn.execute("SELECT pgwarden.unprotect_branch(name) FROM pgwarden.branch WHERE protected")
        for (name,) in conn.execute("SELECT name FROM pgwarden.branch ORDER BY created_at DESC"
                                    ).fetchall():
            project.delete_branch(name)
        for db in databases(conn, "regress\\_%") + databases(conn, "pgw\\_%"):
            if db != control:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db)))


# -- reset ---------------------------------------------------------------------------

RESET_STEPS = {
    "reset:copy": OLD,       # recorded, nothing copied yet
    "reset:copied": OLD,     # the copy exists under its own name
    "reset:swapped": NEW,    # the copy is in place, the old database aside
    "reset:dropped": NEW,    # the old database dropped, the record not yet cleared
}


@pytest.mark.parametrize("step", [
    # reset:copied runs by default in test_next_reset_cleans_up_an_interrupted_one
    pytest.param(s, marks=[] if s == "reset:swapped" else [pytest.mark.slow])
    for s in RESET_STEPS])
def test_reset_killed_at_each_step(suite: Cluster, tmp_path: Path, step: str) -> None:
    c = suite
    cred = setup_branches(c, CONTROL_DB)
    dsn = c.local_dsn(CONTROL_DB)
    proc = paused(dsn, step, tmp_path, "branches", "reset", CHILD, "--strategy", "template", "--yes")
    kill9(proc)
    with c.connect(CONTROL_DB) as conn:
        wait_not_running(conn)
        # Right after the kill the branch already is as before or as after.
        assert contents(c, CHILD) == RESET_STEPS[step]
        assert conn.execute("SELECT step FROM pgwarden.branch_operations").fetchone() is not None
    out = run(dsn, "branches", "recover")
    assert out.returncode == 0, out.stderr
    expected = ("undone, the branch is as before" if RESET_STEPS[step] == OLD else "finished")
    assert f'interrupted reset of branch "{CHILD}" {expected}' in out.stdout
    assert_clean(c, CONTROL_DB)
    assert_child_serves(c, CONTROL_DB, cred, RESET_STEPS[step])


def test_next_reset_cleans_up_an_interrupted_one(suite: Cluster, tmp_path: Path) -> None:
    c = suite
    cred = setup_branches(c, CONTROL_DB)
    dsn = c.local_dsn(CONTROL_DB)
    kill9(paused(dsn, "reset:copied", tmp_path, "branches", "reset", CHILD, "--yes"))
    with c.connect(CONTROL_DB) as conn:
        wait_not_running(conn)
        assert len(databases(conn, "pgw\\_reset\\_%")) == 1
    out = run(dsn, "branches", "reset", CHILD, "--yes")
    assert out.returncode == 0, out.stderr
    assert f'pgwarden: interrupted reset of branch "{CHILD}" undone' in out.stderr
    assert_clean(c, CONTROL_DB)
    assert_child_serves(c, CONTROL_DB, cred, NEW)


# -- delete and create ------------------------------------------------------------------

@pytest.mark.parametrize("step", ["delete:begun",
                                  pytest.param("delete:dropped", marks=pytest.mark.slow)])
def test_delete_killed_is_finished_by_recover(suite: Cluster, tmp_path: Path, step: str) -> None:
    c = suite
    cred = setup_branches(c, CONTROL_DB)
    dsn = c.local_dsn(CONTROL_DB)
    kill9(paused(dsn, step, tmp_path, "branches", "delete", CHILD, "--yes"))
    with c.connect(CONTROL_DB) as conn:
        wait_not_running(conn)
        assert conn.execute("SELECT state FROM pgwarden.branches WHERE name = %s", [CHILD]
                            ).fetchone() in (("delete",), ("missing",))
    out = run(dsn, "branches", "recover")
    assert out.returncode == 0, out.stderr
    assert f'interrupted delete of branch "{CHILD}" finished' in out.stdout
    assert_clean(c, CONTROL_DB)
    with c.connect(CONTROL_DB) as conn:
        assert databases(conn, CHILD) == []
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [cred.role]
                            ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pgwarden.endpoints WHERE branch = %s", [CHILD]
                            ).fetchone() == (0,)


@pytest.mark.parametrize("step", [pytest.param("create:copy", marks=pytest.mark.slow),
                                  "create:copied",
                                  pytest.param("create:swapped", marks=pytest.mark.slow)])
def test_create_killed_at_each_step(suite: Cluster, tmp_path: Path, step: str) -> None:
    c = suite
    setup_branches(c, CONTROL_DB)
    dsn = c.local_dsn(CONTROL_DB)
    kill9(paused(dsn, step, tmp_path, "branches", "create", "regress_new", "--parent", PARENT,
                 "--strategy", "template"))
    with c.connect(CONTROL_DB) as conn:
        wait_not_running(conn)
    out = run(dsn, "branches", "recover")
    assert out.returncode == 0, out.stderr
    assert_clean(c, CONTROL_DB)
    with c.connect(CONTROL_DB) as conn:
        exists = conn.execute("SELECT count(*) FROM pgwarden.branch WHERE name = 'regress_new'"
                              ).fetchone() == (1,)
    if step == "create:swapped":
        assert 'interrupted create of branch "regress_new" finished' in out.stdout
        assert exists and contents(c, "regress_new") == NEW
    else:
        assert 'interrupted create of branch "regress_new" undone' in out.stdout
        assert not exists
        with c.connect(CONTROL_DB) as conn:
            assert databases(conn, "regress\\_new") == []
        again = run(dsn, "branches", "create", "regress_new", "--parent", PARENT)
        assert again.returncode == 0, again.stderr


# -- one operation at a time ------------------------------------------------------------

def test_second_operation_on_a_busy_branch_fails_with_55P03(suite: Cluster,
                                                            tmp_path: Path) -> None:
    c = suite
    cred = setup_branches(c, CONTROL_DB)
    dsn = c.local_dsn(CONTROL_DB)
    first = paused(dsn, "reset:copy", tmp_path, "branches", "reset", CHILD, "--yes")
    try:
        out = run(dsn, "branches", "reset", CHILD, "--yes")
        assert out.returncode == 3, out.stderr
        assert f'pgwarden: error: 55P03: branch "{CHILD}" is busy' in out.stderr
        assert "running reset on it since" in out.stderr
        project = Project(dsn)
        for attempt in (lambda: project.delete_branch(CHILD),
                        lambda: project.create_branch("regress_grandchild", CHILD)):
            with pytest.raises(psycopg.errors.LockNotAvailable) as info:
                attempt()
            assert info.value.diag.message_primary == f'branch "{CHILD}" is busy: another session is changing it'
        # The parent is being copied: it cannot be deleted meanwhile either.
        with c.connect(CONTROL_DB) as conn:
            conn.execute("SELECT pgwarden.unprotect_branch(%s)", [PARENT])
        with pytest.raises(psycopg.errors.LockNotAvailable) as info:
            project.delete_branch(PARENT)
        assert f'branch "{PARENT}" is busy' in (info.value.diag.message_primary or "")
        # Nothing of the refused operations happened.
        with c.connect(CONTROL_DB) as conn:
            assert conn.execute("SELECT operation, step FROM pgwarden.branch_operations"
                                ).fetchall() == [("reset", "copying")]
            assert conn.execute("SELECT count(*) FROM pgwarden.branch WHERE name = 'regress_grandchild'"
                                ).fetchone() == (0,)
    finally:
        kill9(first)
    with c.connect(CONTROL_DB) as conn:
        wait_not_running(conn)
    out = run(dsn, "branches", "reset", CHILD, "--yes")
    assert out.returncode == 0, out.stderr
    assert_clean(c, CONTROL_DB)
    assert_child_serves(c, CONTROL_DB, cred, NEW)


def test_steps_refuse_a_session_without_the_lock(suite: Cluster,
                                                 admin: psycopg.Connection[Any]) -> None:
    setup_branches(suite, CONTROL_DB)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as info:
        admin.execute("SELECT * FROM pgwarden._begin_operation(%s, 'delete')", [CHILD])
    assert "does not hold the operation lock" in (info.value.diag.message_primary or "")
    assert admin.execute("SELECT busy FROM pgwarden.branch WHERE name = %s", [CHILD]
                         ).fetchone() == (None,)


# -- server crashes -----------------------------------------------------------------------

@pytest.fixture
def own(private_cluster: ClusterFactory) -> Cluster:
    return private_cluster(control_db="regress_ctl")


def crash_at(c: Cluster, step: str, tmp_path: Path, *args: str) -> None:
    proc = paused(c.local_dsn("regress_ctl"), step, tmp_path, *args)
    c.stop("immediate")
    kill9(proc)
    c.start()


@pytest.mark.parametrize("step", [
    "reset:swapped",
    pytest.param("reset:copy", marks=pytest.mark.slow),
    pytest.param("reset:copied", marks=pytest.mark.slow),
    pytest.param("reset:dropped", marks=pytest.mark.slow),
])
def test_reset_survives_a_server_crash(own: Cluster, tmp_path: Path, step: str) -> None:
    c = own
    cred = setup_branches(c, "regress_ctl")
    crash_at(c, step, tmp_path, "branches", "reset", CHILD, "--strategy", "template", "--yes")
    assert contents(c, CHILD) == RESET_STEPS[step]
    out = run(c.local_dsn("regress_ctl"), "branches", "recover")
    assert out.returncode == 0, out.stderr
    assert_clean(c, "regress_ctl")
    assert_child_serves(c, "regress_ctl", cred, RESET_STEPS[step])


@pytest.mark.slow
@pytest.mark.parametrize("step", ["delete:begun", "delete:dropped", "create:copied",
                                  "create:swapped"])
def test_delete_and_create_survive_a_server_crash(own: Cluster, tmp_path: Path,
                                                  step: str) -> None:
    c = own
    setup_branches(c, "regress_ctl")
    if step.startswith("delete"):
        crash_at(c, step, tmp_path, "branches", "delete", CHILD, "--yes")
    else:
        crash_at(c, step, tmp_path, "branches", "create", "regress_new", "--parent", PARENT)
    out = run(c.local_dsn("regress_ctl"), "branches", "recover")
    assert out.returncode == 0, out.stderr
    assert_clean(c, "regress_ctl")
    with c.connect("regress_ctl") as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM pgwarden.branch")}
    if step.startswith("delete"):
        assert CHILD not in names
    else:
        assert ("regress_new" in names) == (step == "create:swapped")


@pytest.mark.slow
def test_reset_killed_during_an_online_restore(own: Cluster, tmp_path: Path) -> None:
    """pg_restore is still writing into the copy when the client dies."""
    c = own
    cred = setup_branches(c, "regress_ctl")
    with c.connect(PARENT) as conn:
        conn.execute("SET ROLE regress_app")
        for i in range(40):
            conn.execute(f"CREATE TABLE filler_{i} AS SELECT g, repeat('x', 200) AS v"
                         " FROM generate_series(1, 20000) g")
    hold = c.connect(PARENT)       # someone is connected: the copy goes online
    dsn = c.local_dsn("regress_ctl")
    proc = cli(dsn, "branches", "reset", CHILD, "--strategy", "online", "--jobs", "1", "--yes")
    try:
        deadline = time.monotonic() + 60
        with c.connect() as conn:
            while not conn.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = 'pg_restore'"
                                   ).fetchone():
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
    finally:
        kill9(proc)
    hold.close()
    out = run(dsn, "branches", "recover")
    assert out.returncode == 0, out.stderr
    assert_clean(c, "regress_ctl")
    assert_child_serves(c, "regress_ctl", cred, OLD)


# -- project delete: only what pgwarden made ----------------------------------------------

def project_with_every_kind(c: Cluster) -> None:
    """Registered databases (one holding production data, one registered as a
    child, one registered and later reset) and copies made every way."""
    with c.connect() as conn:
        conn.execute(f"CREATE ROLE regress_app LOGIN PASSWORD '{APP_PASSWORD}'")
        for db in ("regress_shop", "regress_reg", "regress_reg_reset"):
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER regress_app").format(sql.Identifier(db)))
    with c.connect("regress_shop") as conn:
        conn.execute("CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 50) g")
    p = Project(c.local_dsn("regress_ctl"))
    p.register_branch("regress_shop")
    p.register_branch("regress_reg", parent="regress_shop")
    p.register_branch("regress_reg_reset", parent="regress_shop")
    p.reset_branch("regress_reg_reset", strategy="template")  # now a copy pgwarden made
    p.create_branch("regress_a", "regress_shop", strategy="template")
    p.create_branch("regress_b", "regress_a", strategy="online")
    with c.connect() as conn:
        conn.execute("CREATE DATABASE regress_c TEMPLATE regress_a")   # registered as a child


PLAN = [
    "will drop database regress_b (branch regress_b, made by pgwarden (online))",
    "will drop database regress_c (branch regress_c, made by CREATE DATABASE ... TEMPLATE)",
    "will drop database regress_a (branch regress_a, made by pgwarden (template))",
    "will keep database regress_reg (branch regress_reg, registered; no longer a branch)",
    "will drop database regress_reg_reset (branch regress_reg_reset, made by pgwarden (template))",
    "will keep database regress_shop (branch regress_shop, registered; no longer a branch)",
    "will drop extension pgwarden",
]


def test_project_delete_drops_only_what_pgwarden_made(own: Cluster) -> None:
    c = own
    project_with_every_kind(c)
    dsn = c.local_dsn("regress_ctl")
    with c.connect() as conn:
        before = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}

    # Without --yes: the plan, and nothing changed.
    out = run(dsn, "project", "delete")
    assert out.returncode == 2
    assert out.stdout.splitlines() == PLAN
    assert "refusing to drop 4 databases" in out.stderr and "pass --yes" in out.stderr
    with c.connect() as conn:
        assert {r[0] for r in conn.execute("SELECT datname FROM pg_database")} == before

    out = run(dsn, "project", "delete", "--yes")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:len(PLAN)] == PLAN
    assert lines[len(PLAN):] == [
        line.replace("will drop", "dropped").replace("will keep", "kept") for line in PLAN]
    with c.connect() as conn:
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        assert dbs == before - {"regress_a", "regress_b", "regress_c", "regress_reg_reset"}
        assert conn.execute("SELECT count(*) FROM pg_shseclabel WHERE provider LIKE 'pgwarden%'"
                            ).fetchone() == (0,)
    with c.connect("regress_shop") as conn:       # production data untouched
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (50,)
    with c.connect("regress_ctl") as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pgwarden'"
                            ).fetchone() == (0,)


@pytest.mark.slow
def test_project_delete_drop_registered_drops_them_too(own: Cluster) -> None:
    c = own
    project_with_every_kind(c)
    out = run(c.local_dsn("regress_ctl"), "project", "delete", "--yes", "--drop-registered",
              "--output", "json")
    assert out.returncode == 0, out.stderr
    assert [b["drop"] for b in json.loads(out.stdout)["branches"]] == [True] * 6
    with c.connect() as conn:
        assert databases(conn, "regress\\_%") == ["regress_ctl"]


def test_project_delete_is_refused_before_anything_is_dropped(own: Cluster) -> None:
    c = own
    project_with_every_kind(c)
    with c.connect() as conn:
        before = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        conn.execute("CREATE ROLE regress_member LOGIN CREATEDB IN ROLE pgwarden_admin")
    # A pgwarden_admin member may not drop the extension: refused up front.
    out = run(c.local_dsn("regress_ctl", user="regress_member"), "project", "delete", "--yes")
    assert out.returncode == 3
    assert "42501: deleting the project requires a superuser" in out.stderr
    # A protected branch: refused (PW001) for everyone.
    Project(c.local_dsn("regress_ctl")).protect("regress_a")
    out = run(c.local_dsn("regress_ctl"), "project", "delete", "--yes")
    assert out.returncode == 3 and "PW001" in out.stderr
    with c.connect() as conn:
        assert {r[0] for r in conn.execute("SELECT datname FROM pg_database")} == before
    with c.connect("regress_ctl") as conn:
        assert conn.execute("SELECT count(*) FROM pgwarden.branch").fetchone() == (6,)
