"""Backup and restore: README's "Backup and restore" commands, run as written
against real servers, bring the policy back in a new cluster.

The new cluster has other OIDs: before the restore, a database and a role
of its own are made to take the OIDs the old cluster's control database,
protected branch and branch role had, so that trusting a restored OID would
show (a protection, a binding or a forgotten branch's DROP ROLE landing on
them)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pgwarden import allowlist
from pgwarden.branches import Credential, Project
from pgwarden.sandbox import SERVER_USER, Cluster
from support.proxy import Proxy

README = Path(__file__).resolve().parents[2] / "README.md"
APP_PASSWORD = "pgw_Rb4tKq8Vz2Lm7XwN5pHd"
HBA = ["local all all trust", "host all all 127.0.0.0/8 scram-sha-256",
       "host all all ::1/128 scram-sha-256"]
# README's tutorial names -> this test's
NAMES = {"shop": "regress_shop", "dev": "regress_dev", "control": "regress_ctl"}


def readme_blocks() -> tuple[str, str]:
    """The backup and the restore commands of README's "Backup and restore"."""
    text = README.read_text()
    section = text[text.index("### Backup and restore"):text.index("### Failover")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2, "Backup and restore: one block to back up, one to restore"
    renamed = [re.sub(r"\b(shop|dev|control)\b(?!_)", lambda m: NAMES[m.group(1)], b)
               for b in blocks]
    return renamed[0], renamed[1]


def run_block(c: Cluster, block: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The block's lines in one bash -e, as the server's user, against c."""
    env = [f"PGHOST={c.sockdir}", f"PGPORT={c.port}", "PGUSER=postgres",
           f"PATH={c.bindir}:/usr/bin:/bin"]
    argv = ["env", "-i", *env, "bash", "-e", "-o", "pipefail", "-c", block]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", SERVER_USER, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, check=False)
    assert done.returncode == 0, done.stderr
    return done


def admitted(c: Cluster, user: str, password: str, dbname: str, *, source: str = "127.0.0.1",
             endpoint: str | None = None) -> str | None:
    """None when a TLS connection from source is admitted, else the server's message."""
    extra = {"options": f"-c pgwarden.endpoint={endpoint}"} if endpoint else {}
    with Proxy(c.port, source) as p:
        dsn = psycopg.conninfo.make_conninfo(c.tcp_dsn(user, password, dbname=dbname, **extra),
                                             port=p.port)
        try:
            with psycopg.connect(dsn) as conn:
                conn.execute("SELECT 1")
            return None
        except psycopg.OperationalError as exc:
            return str(exc)


@dataclass
class Backup:
    """The old cluster's dumps, made with README's backup block."""
    dir: Path
    cred: Credential
    oids: dict[str, int]         # old OIDs: control, shop, branch_role
    audit_rows: int


@pytest.fixture(scope="module")
def backup() -> Iterator[Backup]:
    old = Cluster(hba=HBA).init()
    tmp = Path(tempfile.mkdtemp(prefix="pgwarden-dumps-"))
    os.chmod(tmp, 0o777)
    try:
        old.start()
        with old.connect() as conn:
            conn.execute(f"CREATE ROLE regress_app LOGIN PASSWORD '{APP_PASSWORD}'")
            conn.execute("CREATE DATABASE regress_ctl")
            conn.execute("CREATE DATABASE regress_shop OWNER regress_app")
        with old.connect("regress_shop") as conn:
            conn.execute("SET ROLE regress_app")
            conn.execute("CREATE TABLE items AS SELECT g AS id FROM generate_series(1, 10) g")
        with old.connect("regress_ctl") as conn:
            conn.execute("CREATE EXTENSION pgwarden")
            allowlist.add(conn, ["127.0.0.1", "::1"], comment="office")
            allowlist.set_protected_only(conn, True)
        project = Project(old.local_dsn("regress_ctl"))
        project.register_branch("regress_shop")
        project.protect("regress_shop")
        project.create_endpoint("regress_shop", "regress_shop_ro", "read_only")
        (cred,) = project.create_branch("regress_dev", "regress_shop",
                                        strategy="template").credentials
        with old.connect("regress_ctl") as conn:
            oids = {
                "control": conn.execute("SELECT oid FROM pg_database"
                                        " WHERE datname = 'regress_ctl'").fetchone()[0],
                "shop": conn.execute("SELECT oid FROM pg_database"
                                     " WHERE datname = 'regress_shop'").fetchone()[0],
                "branch_role": conn.execute("SELECT role_oid FROM pgwarden.branch_role"
                                            ).fetchone()[0],
            }
            audit_rows = conn.execute("SELECT count(*) FROM pgwarden.audit_log").fetchone()[0]
        run_block(old, readme_blocks()[0], tmp)
        yield Backup(tmp, cred, oids, audit_rows)
    finally:
        old.destroy()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


@pytest.fixture
def new() -> Iterator[Cluster]:
    c = Cluster(hba=HBA).init()
    try:
        c.start()
        yield c
    finally:
        c.destroy()


def squat_old_oids(c: Cluster, backup: Backup) -> None:
    """Objects of the new cluster at the old cluster's OIDs (the OID counter
    is shared: large objects advance it to just below each target)."""
    targets = sorted([(backup.oids["control"], "database", "regress_squat_ctl"),
                      (backup.oids["shop"], "database", "regress_squat_shop"),
                      (backup.oids["branch_role"], "role", "regress_squat_role")])
    with c.connect() as conn:
        last = conn.execute("SELECT lo_create(0)").fetchone()[0]
        for oid, kind, name in targets:
            assert last < oid, "the new cluster is past the old one's OIDs"
            while last < oid - 1:
                last = conn.execute("SELECT lo_create(0)").fetchone()[0]
            if kind == "database":
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                got = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", [name])
            else:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(APP_PASSWORD)))
                got = conn.execute("SELECT oid FROM pg_roles WHERE rolname = %s", [name])
            last = got.fetchone()[0]
            assert last == oid, f"{name} did not get OID {oid}"
        conn.execute("SELECT lo_unlink(oid) FROM pg_largeobject_metadata")


def restore_lines(only: set[str] | None = None) -> str:
    """README's restore block; only: the dump files to restore (all by default)."""
    lines = readme_blocks()[1].splitlines()
    keep = [ln for ln in lines
            if only is None or "pg_restore" not in ln
            or any(f" {name}.dump" in ln for name in only)]
    return "\n".join(keep) + "\n"


def test_readme_restore_brings_the_policy_back_in_a_new_cluster(backup: Backup,
                                                                new: Cluster) -> None:
    squat_old_oids(new, backup)
    run_block(new, restore_lines(), backup.dir)

    with new.connect("regress_ctl") as conn:
        # the allowlist, its scope and the endpoints
        entries = {(e.entry, e.comment) for e in allowlist.list_entries(conn)}
        assert entries == {("127.0.0.1", "office"), ("::1", "office")}
        assert conn.execute("SELECT protected_only FROM pgwarden.ip_allow_scope"
                            ).fetchone() == (True,)
        rows = conn.execute("SELECT name, database, parent, protected, state, endpoints"
                            "  FROM pgwarden.branches ORDER BY name").fetchall()
        assert rows == [("regress_dev", "regress_dev", "regress_shop", False, "ready",
                         ["regress_dev"]),
                        ("regress_shop", "regress_shop", None, True, "ready",
                         ["regress_shop", "regress_shop_ro"])]
        assert conn.execute("SELECT r.rolname FROM pgwarden.branch_role br"
                            "  JOIN pg_roles r ON r.oid = br.role_oid").fetchall() == [
            (backup.cred.role,)]
        # the audit log: the old rows, the restore's, and new changes append
        assert conn.execute("SELECT count(*) FROM pgwarden.audit_log").fetchone()[0] \
            > backup.audit_rows
        allowlist.add(conn, ["127.0.0.3"])
        assert conn.execute("SELECT count(*) FROM pgwarden.audit_log"
                            " WHERE action = 'allowlist.add' AND object = '127.0.0.3'"
                            ).fetchone() == (1,)
        allowlist.wait_published(conn)
        # nothing of pgwarden's landed on what has the old OIDs here
        assert conn.execute(
            "SELECT count(*) FROM pg_shseclabel l WHERE l.provider = 'pgwarden'"
            "   AND l.objoid IN (SELECT oid FROM pg_database WHERE datname LIKE 'regress_squat%'"
            "                    UNION ALL SELECT oid FROM pg_roles"
            "                    WHERE rolname LIKE 'regress_squat%')").fetchone() == (0,)

    # The gate: scope (protected branches only), TLS, the restored password
    # hashes, the branch role bound to its branch, the read-only endpoint.
    # (each result is taken outside the assert: a failing assert would
    # print the call's arguments, passwords included)
    msg = admitted(new, "regress_app", APP_PASSWORD, "regress_shop", source="127.0.0.2")
    assert "address not allowed" in (msg or ""), msg
    msg = admitted(new, "regress_app", APP_PASSWORD, "regress_shop")
    assert msg is None, msg
    msg = admitted(new, backup.cred.role, backup.cred.password, "regress_dev",
                   source="127.0.0.2")
    assert msg is None, msg
    msg = admitted(new, backup.cred.role, backup.cred.password, "regress_shop")
    assert "endpoint unavailable" in (msg or ""), msg
    msg = admitted(new, "regress_squat_role", APP_PASSWORD, "postgres")
    assert msg is None, msg
    ro = psycopg.conninfo.make_conninfo(
        new.tcp_dsn("regress_app", APP_PASSWORD, dbname="regress_shop"),
        options="-c pgwarden.endpoint=regress_shop_ro")
    with (psycopg.connect(ro, autocommit=True) as conn,
          pytest.raises(psycopg.errors.ReadOnlySqlTransaction)):
        conn.execute("INSERT INTO items VALUES (11)")
    # Protections, from the labels the restore wrote.
    with new.connect() as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("DROP DATABASE regress_shop WITH (FORCE)")
        assert info.value.diag.sqlstate == "PW001"
        conn.execute("DROP DATABASE regress_squat_shop")
        conn.execute("DROP DATABASE regress_squat_ctl")


def test_sync_branches_reattaches_databases_restored_after_the_control_database(
        backup: Backup, new: Cluster) -> None:
    squat_old_oids(new, backup)
    run_block(new, restore_lines({"regress_ctl"}), backup.dir)
    with new.connect("regress_ctl") as conn:
        # the branches wait for their databases: pointing at nothing, not at
        # the databases that have their old OIDs here
        assert conn.execute("SELECT name, database, state FROM pgwarden.branches"
                            " ORDER BY name").fetchall() == [
            ("regress_dev", None, "missing"), ("regress_shop", None, "missing")]
        assert conn.execute("SELECT count(*) FROM pgwarden.branch"
                            " WHERE database_oid IS NOT NULL").fetchone() == (0,)
        # the branch role was bound again by the restore itself (no sync yet)
        assert conn.execute("SELECT r.rolname FROM pgwarden.branch_role br"
                            "  JOIN pg_roles r ON r.oid = br.role_oid").fetchall() == [
            (backup.cred.role,)]
        allowlist.wait_published(conn)  # the gate enforces what the restore bound
    # a branch role whose branch has no database yet connects nowhere
    msg = admitted(new, backup.cred.role, backup.cred.password, "postgres")
    assert "endpoint unavailable" in (msg or ""), msg

    run_block(new, "pg_restore -C --no-security-labels -d postgres regress_shop.dump\n",
              backup.dir)
    with new.connect("regress_ctl") as conn:
        assert conn.execute("SELECT pgwarden.sync_branches()").fetchone() == (1,)
        assert conn.execute("SELECT name, database, protected, state FROM pgwarden.branches"
                            " ORDER BY name").fetchall() == [
            ("regress_dev", None, False, "missing"),
            ("regress_shop", "regress_shop", True, "ready")]
        # a second sync changes nothing, not even the policy version; the
        # squatters are still there
        version = conn.execute("SELECT version FROM pgwarden.policy_version").fetchone()
        assert conn.execute("SELECT pgwarden.sync_branches()").fetchone() == (0,)
        assert conn.execute("SELECT version FROM pgwarden.policy_version").fetchone() == version
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'regress_squat_role'"
                            ).fetchone() == (1,)
    with new.connect() as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("DROP DATABASE regress_shop WITH (FORCE)")
        assert info.value.diag.sqlstate == "PW001"
    # a branch whose database never comes back is deleted like any other
    Project(new.local_dsn("regress_ctl")).delete_branch("regress_dev")
    with new.connect("regress_ctl") as conn:
        assert conn.execute("SELECT name FROM pgwarden.branches").fetchall() == [
            ("regress_shop",)]
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s",
                            [backup.cred.role]).fetchone() == (0,)
