"""The audit trail: pgwarden.audit_log records every change of the policy in the
transaction that makes it, and every refusal in a transaction of its own.

Each test makes a change (or an attack) as a real client and reads the log
back: the row there or not, its action, object, users, address and xid.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden import allowlist
from pgwarden.branches import Project
from pgwarden.sandbox import Cluster
from support import CONTROL_DB
from support.branches import tcp
from support.helpers import assert_not_in, assert_not_logged
from support.proxy import Proxy

WEAK = "Summer2024!"  # refused by the policy; must never be stored anywhere
APP_PASSWORD = "pgw_Qm7vZ2xK9pLw4RtY8nB3"


def q(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def last_id(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(id), 0) FROM pgwarden.audit_log").fetchone()
    assert row is not None
    return int(row[0])


def rows_since(conn: psycopg.Connection[Any], since: int, *,
               action: str | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("SELECT * FROM pgwarden.audit_log WHERE id > %s"
                    " AND (%s::text IS NULL OR action = %s) ORDER BY id",
                    [since, action, action])
        return cur.fetchall()


def wait_rows(conn: psycopg.Connection[Any], since: int, action: str,
              timeout: float = 10.0) -> list[dict[str, Any]]:
    """Rows written by the policy loader (refusals) appear within a poll."""
    deadline = time.monotonic() + timeout
    while True:
        rows = rows_since(conn, since, action=action)
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


@pytest.fixture
def log(admin: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """The control database with an empty allowlist before and after."""
    allowlist.reset(admin, force=True)
    allowlist.set_protected_only(admin, False)
    yield admin
    admin.execute("SET session_replication_role = DEFAULT")
    allowlist.reset(admin, force=True)
    allowlist.set_protected_only(admin, False)


@pytest.fixture
def admin_member(admin: psycopg.Connection[Any]) -> Iterator[tuple[str, str]]:
    role = "regress_audit_admin"
    pw = admin.execute("SELECT pgwarden.generate_password()").fetchone()[0]  # type: ignore[index]
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(q(role), sql.Literal(pw)))
    admin.execute(sql.SQL("GRANT pgwarden_admin TO {}").format(q(role)))
    yield role, pw


def make_parent(cluster: Cluster, name: str, owner: str = "regress_audit_app") -> None:
    with cluster.connect() as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [owner]).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                q(owner), sql.Literal(APP_PASSWORD)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(q(name), q(owner)))


# --------------------------------------------------------------------------- changes
def test_allowlist_changes_are_recorded_with_who_where_and_xid(
        cluster: Cluster, log: psycopg.Connection[Any],
        admin_member: tuple[str, str]) -> None:
    role, pw = admin_member
    start = last_id(log)
    with Proxy(cluster.port, "127.0.0.7") as proxy, psycopg.connect(
            psycopg.conninfo.make_conninfo(
                cluster.tcp_dsn(role, pw, dbname=CONTROL_DB, application_name="regress-audit"),
                port=proxy.port), autocommit=True) as conn:
        with conn.transaction():
            xid = conn.execute("SELECT pg_current_xact_id()::text").fetchone()[0]  # type: ignore[index]
            conn.execute("SELECT pgwarden.ip_allow_add(ARRAY['203.0.113.7', '10.0.0.0/8',"
                         " '127.0.0.7'], comment => 'office')")
        conn.execute("SELECT pgwarden.ip_allow_add(ARRAY['203.0.113.7'], comment => 'moved')")
        conn.execute("SELECT pgwarden.ip_allow_remove(ARRAY['10.0.0.0/8'])")
        conn.execute("SELECT pgwarden.ip_allow_protected_only(true)")
        conn.execute("SELECT pgwarden.ip_allow_reset(force => true)")
    rows = rows_since(log, start)
    assert [(r["action"], r["object"]) for r in rows] == [
        ("allowlist.add", "10.0.0.0/8"), ("allowlist.add", "127.0.0.7"),
        ("allowlist.add", "203.0.113.7"),
        ("allowlist.update", "203.0.113.7"),
        ("allowlist.remove", "10.0.0.0/8"),
        ("allowlist.scope", "ip_allow_protected_only"),
        ("allowlist.reset", "127.0.0.7"), ("allowlist.reset", "203.0.113.7"),
    ]
    first = rows[0]
    assert first["session_user_name"] == role
    assert first["current_user_name"] == role  # not the SECURITY DEFINER owner
    assert str(first["client_addr"]) == "127.0.0.7"
    assert first["application_name"] == "regress-audit"
    assert first["database"] == CONTROL_DB
    assert str(first["xid"]) == xid and str(rows[2]["xid"]) == xid
    assert str(rows[3]["xid"]) != xid
    assert first["before"] is None and first["after"]["comment"] == "office"
    assert rows[3]["before"]["comment"] == "office" and rows[3]["after"]["comment"] == "moved"
    assert rows[5]["after"]["value"] == "true"


def test_set_role_is_the_current_user(log: psycopg.Connection[Any],
                                      admin_member: tuple[str, str]) -> None:
    role, _ = admin_member
    start = last_id(log)
    log.execute(sql.SQL("SET ROLE {}").format(q(role)))
    try:
        allowlist.add(log, ["198.51.100.9"])
    finally:
        log.execute("RESET ROLE")
    (row,) = rows_since(log, start)
    assert (row["session_user_name"], row["current_user_name"]) == ("postgres", role)
    assert row["client_addr"] is None  # Unix socket


def test_rolled_back_change_leaves_no_row(log: psycopg.Connection[Any]) -> None:
    start = last_id(log)
    with pytest.raises(psycopg.errors.DivisionByZero), log.transaction():
        log.execute("SELECT pgwarden.ip_allow_add(ARRAY['192.0.2.1'])")
        log.execute("SELECT 1 / 0")
    assert rows_since(log, start) == []


def test_direct_dml_and_replica_mode_are_recorded(log: psycopg.Connection[Any]) -> None:
    """Row triggers catch every path, even the owner's own DML with triggers
    'disabled' through session_replication_role."""
    start = last_id(log)
    log.execute("SET session_replication_role = replica")
    log.execute("INSERT INTO pgwarden.ip_allow_entries (entry, kind, first_address, last_address)"
                " VALUES ('192.0.2.44', 'address', '192.0.2.44', '192.0.2.44')")
    log.execute("TRUNCATE pgwarden.ip_allow_entries")
    log.execute("SET session_replication_role = DEFAULT")
    rows = rows_since(log, start)
    assert [r["action"] for r in rows] == ["allowlist.add", "allowlist.truncate"]
    assert rows[1]["before"][0]["entry"] == "192.0.2.44"


def test_branch_and_endpoint_life_cycle_is_recorded(cluster: Cluster, log: psycopg.Connection[Any],
                                                    project: Project) -> None:
    make_parent(cluster, "regress_audit_shop")
    start = last_id(log)
    log.execute("SELECT pgwarden.register_branch('regress_audit_shop')")
    log.execute("SELECT pgwarden.protect_branch('regress_audit_shop')")
    log.execute("SELECT pgwarden.create_endpoint('regress_audit_shop', 'regress_audit_ro', 'read_only')")
    log.execute("SELECT pgwarden.suspend_endpoint('regress_audit_ro')")
    log.execute("SELECT pgwarden.resume_endpoint('regress_audit_ro')")
    log.execute("SELECT pgwarden.set_endpoint_limit('regress_audit_ro', 5)")
    log.execute("SELECT pgwarden.unprotect_branch('regress_audit_shop')")
    log.execute("SELECT pgwarden.drop_endpoint('regress_audit_ro')")
    project.delete_branch("regress_audit_shop")
    got = [(r["action"], r["object"]) for r in rows_since(log, start)]
    assert got == [
        ("branch.register", "regress_audit_shop"),
        ("endpoint.create", "regress_audit_shop"),
        ("branch.protect", "regress_audit_shop"),
        ("endpoint.create", "regress_audit_ro"),
        ("endpoint.suspend", "regress_audit_ro"),
        ("endpoint.resume", "regress_audit_ro"),
        ("endpoint.limit", "regress_audit_ro"),
        ("branch.unprotect", "regress_audit_shop"),
        ("endpoint.drop", "regress_audit_ro"),
        ("branch.delete", "regress_audit_shop"),
        ("endpoint.drop", "regress_audit_shop"),  # ON DELETE CASCADE
    ]


def test_branch_create_reset_and_branch_roles_are_recorded(
        cluster: Cluster, log: psycopg.Connection[Any], project: Project) -> None:
    make_parent(cluster, "regress_audit_prod")
    log.execute("SELECT pgwarden.register_branch('regress_audit_prod')")
    log.execute("SELECT pgwarden.protect_branch('regress_audit_prod')")
    start = last_id(log)
    project.create_branch("regress_audit_dev", "regress_audit_prod", strategy="template")
    project.reset_branch("regress_audit_dev", strategy="template")
    project.delete_branch("regress_audit_dev")
    rows = rows_since(log, start)
    got = [(r["action"], r["object"]) for r in rows]
    role = "regress_audit_app@regress_audit_dev"
    assert ("branch.create", "regress_audit_dev") in got
    assert ("branch_role.create", role) in got
    assert ("branch.reset", "regress_audit_dev") in got
    assert ("branch_role.drop", role) in got  # named although dropped before its row
    assert got[-2:] == [("branch.delete", "regress_audit_dev"),
                        ("endpoint.drop", "regress_audit_dev")]
    created = next(r for r in rows if r["action"] == "branch_role.create")
    assert created["after"]["parent_role"] == "regress_audit_app"
    for r in rows:
        assert "password" not in json.dumps(r["after"] or {}).lower()


def test_alter_system_of_pgwarden_settings_is_recorded(cluster: Cluster,
                                                       log: psycopg.Connection[Any]) -> None:
    start = last_id(log)
    try:
        log.execute("ALTER SYSTEM SET pgwarden.min_password_entropy = 70")
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            log.execute("ALTER SYSTEM SET pgwarden.password_check = 'sometimes'")
        log.execute("ALTER SYSTEM SET work_mem = '8MB'")  # not pgwarden's: not recorded
        with cluster.connect() as other:  # another database: written by the loader
            other.execute("ALTER SYSTEM RESET pgwarden.min_password_entropy")
        reset = wait_rows(log, start, "setting.reset")
        with cluster.connect(CONTROL_DB) as ro:  # a read-only transaction cannot insert: queued
            ro.execute("SET default_transaction_read_only = on")
            ro.execute("ALTER SYSTEM SET pgwarden.password_banned_words = 'acme'")
        banned = wait_rows(log, start, "setting.set")
    finally:
        log.execute("ALTER SYSTEM RESET work_mem")
        log.execute("ALTER SYSTEM RESET pgwarden.min_password_entropy")
        log.execute("ALTER SYSTEM RESET pgwarden.password_banned_words")
    rows = rows_since(log, start)
    first = rows[0]
    assert (first["action"], first["object"]) == ("setting.set", "pgwarden.min_password_entropy")
    assert first["before"] == {"value": "60"} and first["after"]["value"] == "70"
    assert all(r["object"] != "pgwarden.password_check" for r in rows)
    assert all(r["object"] != "work_mem" for r in rows)
    assert reset[0]["database"] == "postgres" and reset[0]["after"]["value"] is None
    deadline = time.monotonic() + 10
    while len(banned) < 2 and time.monotonic() < deadline:
        banned = wait_rows(log, start, "setting.set")
    assert banned[-1]["object"] == "pgwarden.password_banned_words"
    assert banned[-1]["after"]["value"] == "acme"
    start = last_id(log)
    log.execute("ALTER SYSTEM SET shared_preload_libraries = 'pgwarden'")
    log.execute("ALTER SYSTEM RESET shared_preload_libraries")
    assert [(r["action"], r["object"]) for r in rows_since(log, start)] == [
        ("setting.set", "shared_preload_libraries"), ("setting.reset", "shared_preload_libraries")]
    start = last_id(log)
    log.execute("ALTER SYSTEM RESET ALL")
    (row,) = rows_since(log, start)
    assert (row["action"], row["object"]) == ("setting.reset_all", "ALL")


# --------------------------------------------------------------------------- refusals
def test_refused_password_is_recorded_without_the_password(
        cluster: Cluster, log: psycopg.Connection[Any]) -> None:
    start = last_id(log)
    with cluster.connect() as conn:
        conn.execute("SET application_name = 'regress-pw'")
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute(sql.SQL("CREATE ROLE regress_audit_weak LOGIN PASSWORD {}").format(
                sql.Literal(WEAK)))
        # caught by an exception block: still a refusal
        conn.execute(sql.SQL(
            "DO $$ BEGIN EXECUTE format('CREATE ROLE regress_audit_weak2 PASSWORD %L', {});"
            " EXCEPTION WHEN invalid_parameter_value THEN NULL; END $$").format(
                sql.Literal(WEAK)))
    rows = wait_rows(log, start, "password.refused")
    deadline = time.monotonic() + 10
    while len(rows) < 2 and time.monotonic() < deadline:
        rows = wait_rows(log, start, "password.refused")
    assert [r["object"] for r in rows] == ["regress_audit_weak", "regress_audit_weak2"]
    r = rows[0]
    assert r["session_user_name"] == "postgres" and r["application_name"] == "regress-pw"
    assert r["database"] == "postgres"
    assert r["after"]["bits"] < 60 and r["after"]["min_bits"] == 60
    assert "a common password" in r["after"]["findings"]
    everything = log.execute("SELECT a::text FROM pgwarden.audit_log a"
                             ).fetchall()
    assert_not_in(WEAK, "\n".join(row[0] for row in everything), "pgwarden.audit_log")
    assert_not_logged(cluster, WEAK)


def test_a_burst_of_refusals_is_recorded_or_counted(cluster: Cluster,
                                                   log: psycopg.Connection[Any]) -> None:
    """300 refusals in one statement overrun the queue: every one is either
    written or counted in an audit.dropped row, none lost silently."""
    start = last_id(log)
    with cluster.connect() as conn:
        conn.execute("SET application_name = 'regress-burst'")
        conn.execute(sql.SQL(
            "DO $$ BEGIN FOR i IN 1..300 LOOP BEGIN"
            " EXECUTE format('CREATE ROLE regress_audit_burst PASSWORD %L', {});"
            " EXCEPTION WHEN invalid_parameter_value THEN NULL; END; END LOOP; END $$").format(
                sql.Literal(WEAK)))
    deadline = time.monotonic() + 20
    while True:
        row = log.execute(
            "SELECT count(*) FILTER (WHERE action = 'password.refused'"
            "                          AND application_name = 'regress-burst'),"
            "       coalesce(sum((after->>'dropped')::int) FILTER (WHERE action = 'audit.dropped'), 0)"
            "  FROM pgwarden.audit_log WHERE id > %s", [start]).fetchone()
        assert row is not None
        if row[0] + row[1] == 300 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert row[0] + row[1] == 300 and row[0] >= 128


def test_protection_refusals_survive_the_abort(cluster: Cluster, log: psycopg.Connection[Any],
                                               project: Project) -> None:
    make_parent(cluster, "regress_audit_safe")
    log.execute("SELECT pgwarden.register_branch('regress_audit_safe')")
    log.execute("SELECT pgwarden.protect_branch('regress_audit_safe')")
    start = last_id(log)
    with cluster.connect() as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("DROP DATABASE regress_audit_safe")
        assert info.value.diag.sqlstate == "PW001"
    # raised in PL/pgSQL and swallowed by an exception block
    log.execute("DO $$ BEGIN PERFORM pgwarden.drop_endpoint('regress_audit_safe');"
                " EXCEPTION WHEN OTHERS THEN NULL; END $$")
    # any PW002, however raised
    with pytest.raises(psycopg.Error):
        log.execute("DO $$ BEGIN RAISE EXCEPTION 'branch role \"regress_x\" cannot do that'"
                    " USING ERRCODE = 'PW002'; END $$")
    refused = wait_rows(log, start, "protection.refused")
    deadline = time.monotonic() + 10
    while len(refused) < 2 and time.monotonic() < deadline:
        refused = wait_rows(log, start, "protection.refused")
    assert [r["object"] for r in refused] == ["regress_audit_safe", "regress_audit_safe"]
    assert refused[0]["database"] == "postgres"
    assert "DROP DATABASE" in refused[0]["after"]["message"]
    assert refused[0]["after"]["sqlstate"] == "PW001"
    role_rows = wait_rows(log, start, "branch_role.refused")
    assert [r["object"] for r in role_rows] == ["regress_x"]
    # the database is still there and still protected
    assert log.execute("SELECT protected FROM pgwarden.branch WHERE name = 'regress_audit_safe'"
                       ).fetchone() == (True,)


def test_branch_role_refusal_is_recorded(cluster: Cluster, log: psycopg.Connection[Any],
                                         child: Any) -> None:
    """PW002 from the object access hook, as the plan is set up."""
    start = last_id(log)
    with psycopg.connect(tcp(cluster, child.role, child.password, "regress_child"),
                         autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT pg_cancel_backend(1)")
        assert info.value.diag.sqlstate == "PW002"
    (row,) = wait_rows(log, start, "branch_role.refused")
    assert row["object"] == child.role and row["database"] == "regress_child"
    assert row["session_user_name"] == child.role and str(row["client_addr"]) == "127.0.0.1"


# --------------------------------------------------------------------------- append-only
def test_admin_members_read_but_cannot_change_the_log(
        cluster: Cluster, log: psycopg.Connection[Any], admin_member: tuple[str, str]) -> None:
    role, pw = admin_member
    allowlist.add(log, ["192.0.2.9", "127.0.0.1"])
    with psycopg.connect(cluster.tcp_dsn(role, pw, dbname=CONTROL_DB), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pgwarden.audit_log").fetchone()[0] > 0  # type: ignore[index]
        for stmt in ("DELETE FROM pgwarden.audit_log", "UPDATE pgwarden.audit_log SET object = 'x'",
                     "TRUNCATE pgwarden.audit_log",
                     "INSERT INTO pgwarden.audit_log (action) VALUES ('forged')",
                     "SELECT pgwarden.audit_prune(interval '0')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(stmt)


@pytest.mark.parametrize("stmt", [
    "DELETE FROM pgwarden.audit_log",
    "UPDATE pgwarden.audit_log SET action = 'nothing'",
    "TRUNCATE pgwarden.audit_log",
    "DROP TRIGGER append_only ON pgwarden.audit_log",
    "DROP TRIGGER audit ON pgwarden.ip_allow_entries",
    "ALTER TABLE pgwarden.audit_log DISABLE TRIGGER append_only",
    "ALTER TABLE pgwarden.ip_allow_entries DISABLE TRIGGER ALL",
    "ALTER TABLE pgwarden.branch DISABLE TRIGGER audit",
    "ALTER TABLE pgwarden.audit_log SET UNLOGGED",
    "ALTER TABLE pgwarden.audit_log OWNER TO pgwarden_admin",
    "ALTER TABLE pgwarden.audit_log RENAME TO audit_log_old",
    "CREATE RULE hide AS ON INSERT TO pgwarden.audit_log DO INSTEAD NOTHING",
    ("CREATE TRIGGER hide BEFORE INSERT ON pgwarden.audit_log"
     " FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()"),
    ("CREATE OR REPLACE FUNCTION pgwarden._audit_row() RETURNS trigger LANGUAGE plpgsql"
     " AS 'BEGIN RETURN NULL; END'"),
    "ALTER FUNCTION pgwarden._audit_row() SECURITY INVOKER",
    "ALTER FUNCTION pgwarden._audit_row() RENAME TO quiet",
    "ALTER FUNCTION pgwarden._audit_outer_user() SET SCHEMA public",
    "ALTER TRIGGER audit ON pgwarden.endpoint RENAME TO quiet",
    "ALTER TABLE pgwarden.gate_settings DISABLE TRIGGER USER",
    "ALTER EXTENSION pgwarden DROP FUNCTION pgwarden._audit_row()",
])
def test_superuser_cannot_rewrite_or_silence_the_log(log: psycopg.Connection[Any], stmt: str) -> None:
    allowlist.add(log, ["192.0.2.10"])
    before = log.execute("SELECT count(*) FROM pgwarden.audit_log").fetchone()
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
        log.execute(stmt)
    assert "refused" in (info.value.diag.message_primary or "")
    log.execute("SET session_replication_role = replica")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        log.execute("DELETE FROM pgwarden.audit_log")
    log.execute("SET session_replication_role = DEFAULT")
    after = log.execute("SELECT count(*) FROM pgwarden.audit_log").fetchone()
    assert after is not None and before is not None and after[0] >= before[0]
    # the triggers still record
    start = last_id(log)
    allowlist.add(log, ["192.0.2.11"])
    assert [r["action"] for r in rows_since(log, start)
            if r["action"] != "audit.tamper_refused"] == ["allowlist.add"]


def test_other_triggers_stay_pgwardens_business(log: psycopg.Connection[Any]) -> None:
    """Only the audit's own objects are guarded here (with no protected branch;
    protect.c guards everything while one is)."""
    log.execute("ALTER TABLE pgwarden.branch DISABLE TRIGGER refuse_protected_delete")
    log.execute("ALTER TABLE pgwarden.branch ENABLE TRIGGER refuse_protected_delete")


def test_attempts_to_tamper_are_recorded(log: psycopg.Connection[Any]) -> None:
    start = last_id(log)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        log.execute("DELETE FROM pgwarden.audit_log")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        log.execute("DROP TRIGGER audit ON pgwarden.endpoint")
    rows = wait_rows(log, start, "audit.tamper_refused")
    deadline = time.monotonic() + 10
    while len(rows) < 2 and time.monotonic() < deadline:
        rows = wait_rows(log, start, "audit.tamper_refused")
    assert [r["after"] for r in rows] == [{"statement": "DELETE"}, {"statement": "DROP TRIGGER"}]
    assert rows[1]["object"] == "trigger audit of table pgwarden.endpoint"


def test_prune_is_superuser_only_and_audited(log: psycopg.Connection[Any]) -> None:
    allowlist.add(log, ["192.0.2.12"])
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        log.execute("SELECT pgwarden.audit_prune(interval '-1 day')")
    with pytest.raises(psycopg.errors.NullValueNotAllowed):
        log.execute("SELECT pgwarden.audit_prune(NULL)")
    kept = log.execute("SELECT count(*) FROM pgwarden.audit_log").fetchone()[0]  # type: ignore[index]
    assert log.execute("SELECT pgwarden.audit_prune(interval '1 year')").fetchone() == (0,)
    start = last_id(log)
    removed = log.execute("SELECT pgwarden.audit_prune(interval '0')").fetchone()[0]  # type: ignore[index]
    assert removed >= kept
    rows = log.execute("SELECT action, after FROM pgwarden.audit_log WHERE id > %s",
                       [start]).fetchall()
    assert [r[0] for r in rows] == ["audit.prune"]
    assert rows[0][1]["removed"] == removed


# --------------------------------------------------------------------------- dump
def test_log_is_in_pg_dump_of_the_control_database(cluster: Cluster,
                                                   log: psycopg.Connection[Any]) -> None:
    allowlist.add(log, ["192.0.2.13"])
    out = subprocess.run([str(cluster.bindir / "pg_dump"), "-h", str(cluster.sockdir),
                          "-p", str(cluster.port), "-U", "postgres", "--data-only",
                          "-t", "pgwarden.audit_log", CONTROL_DB],
                         check=True, capture_output=True, text=True).stdout
    assert "COPY pgwarden.audit_log" in out and "192.0.2.13" in out
    full = subprocess.run([str(cluster.bindir / "pg_dump"), "-h", str(cluster.sockdir),
                           "-p", str(cluster.port), "-U", "postgres", CONTROL_DB],
                          check=True, capture_output=True, text=True).stdout
    assert "COPY pgwarden.audit_log" in full
    assert "audit_log_id_seq" in full
