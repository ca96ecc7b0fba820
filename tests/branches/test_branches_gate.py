"""Branches at connection time, through the connection gate: branch
credentials bound to their branch, endpoints (suspended, other branch,
connection limit), read-only endpoints resisting every write path, and the
allowlist's protected-only mode over real protected branches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden import allowlist
from pgwarden.branches import Credential, Project, branch_connection_string
from pgwarden.sandbox import Cluster
from support import CONTROL_DB
from support.branches import (
    APP_PASSWORD,
    admitted,
    admitted_from,
    local,
    make_parent,
    refused,
    refused_from,
    tcp,
)
from support.clusters import ClusterFactory
from support.gate import Connector, refusal
from support.helpers import assert_not_in, gate_detail

# -- branch credentials --------------------------------------------------------------

def test_branch_role_connects_to_its_branch_only(cluster: Cluster, child: Credential,
                                                 admin: psycopg.Connection[Any]) -> None:
    admitted(tcp(cluster, child.role, child.password, "regress_child"))
    for db in ("regress_main", "postgres", CONTROL_DB, "template1"):
        msg = refusal(tcp(cluster, child.role, child.password, db))
        assert msg is not None, db
        # the client learns no branch or database name: the log has them
        assert msg.startswith("pgwarden: connection refused: endpoint unavailable")
        assert "regress_child" not in msg
        assert_not_in(child.password, msg, "the refusal")
        gate_detail(cluster, f'and database "{db}" refused (branch_role)',
                    'is a branch role of branch "regress_child" and may connect to database '
                    '"regress_child" only')
    # Over the Unix socket too (exempt from the IP and TLS rules, not from this).
    msg = refusal(local(cluster, "regress_main", user=child.role))
    assert msg is not None and "endpoint unavailable" in msg
    assert allowlist.check_connection(admin, "127.0.0.1", child.role, "regress_main").startswith("deny")
    # The parent's own role still connects to the parent (and its URI works).
    admitted(tcp(cluster, "regress_app", APP_PASSWORD, "regress_main"))
    admitted(child.uri)


def test_branch_role_refused_before_being_asked_for_a_password(cluster: Cluster,
                                                               child: Credential) -> None:
    right = refusal(tcp(cluster, child.role, child.password, "regress_main"))
    wrong = refusal(tcp(cluster, child.role, "pgw_wrongWrongWrong123", "regress_main"))
    assert right is not None and right == wrong


def test_reset_and_rebinding_keep_credentials_working(cluster: Cluster, project: Project,
                                                      child: Credential) -> None:
    project.reset_branch("regress_child")
    admitted(tcp(cluster, child.role, child.password, "regress_child"))
    refused(tcp(cluster, child.role, child.password, "regress_main"))


def test_branch_roles_cannot_be_renamed(child: Credential, admin: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.Error) as info:
        admin.execute(sql.SQL("ALTER ROLE {} RENAME TO regress_renamed").format(
            sql.Identifier(child.role)))
    assert info.value.diag.sqlstate == "PW002"


# -- endpoints -----------------------------------------------------------------------

def test_suspended_endpoint_refuses_connections(cluster: Cluster, project: Project,
                                                child: Credential) -> None:
    project.create_endpoint("regress_child", "regress_ep2")
    project.suspend_endpoint("regress_child")  # the default endpoint
    msg = refusal(tcp(cluster, child.role, child.password, "regress_child"))
    assert msg is not None and "endpoint unavailable" in msg
    gate_detail(cluster, '(endpoint_suspended): endpoint "regress_child" of branch "regress_child" '
                'is suspended')
    refused(local(cluster, "regress_child"))  # superusers too
    admitted(tcp(cluster, child.role, child.password, "regress_child", "regress_ep2"))
    project.resume_endpoint("regress_child")
    admitted(tcp(cluster, child.role, child.password, "regress_child"))
    project.suspend_endpoint("regress_ep2")
    msg = refusal(tcp(cluster, child.role, child.password, "regress_child", "regress_ep2"))
    assert msg is not None and "endpoint unavailable" in msg


def test_endpoint_of_another_branch_or_unknown_refused(cluster: Cluster, child: Credential) -> None:
    msg = refusal(tcp(cluster, "regress_app", APP_PASSWORD, "regress_main", "regress_child"))
    assert msg is not None and "endpoint unavailable" in msg
    gate_detail(cluster, '(endpoint_foreign): endpoint "regress_child" belongs to branch '
                '"regress_child" (database "regress_child"), not to database "regress_main"')
    msg = refusal(tcp(cluster, "regress_app", APP_PASSWORD, "regress_main", "regress_nope"))
    assert msg is not None and "endpoint unavailable" in msg
    gate_detail(cluster, '(endpoint_unknown): endpoint "regress_nope" does not exist')
    # A database that is not a branch accepts no foreign endpoint either.
    refused(local(cluster, "postgres", "regress_main"))
    admitted(local(cluster, "postgres"))
    # The startup parameter form is read as well as options.
    dsn = psycopg.conninfo.make_conninfo(cluster.local_dsn("regress_main"),
                                         options="--pgwarden.endpoint=regress_child")
    refused(dsn)


def test_endpoint_connection_limit(cluster: Cluster, project: Project,
                                   child: Credential) -> None:
    project.create_endpoint("regress_child", "regress_small", max_connections=2)
    dsn = tcp(cluster, child.role, child.password, "regress_child", "regress_small")
    held = [psycopg.connect(dsn, autocommit=True) for _ in range(2)]
    try:
        msg = refusal(dsn)
        assert msg is not None and "endpoint unavailable" in msg and "2" not in msg
        gate_detail(cluster, '(endpoint_full): endpoint "regress_small" of branch "regress_child" '
                    "already has 2 connections")
        # Other endpoints of the branch are not counted against it.
        admitted(tcp(cluster, child.role, child.password, "regress_child"))
        held.pop().close()
        admitted(dsn)
        project.set_endpoint_limit("regress_small", 1)
        refused(dsn)
    finally:
        for c in held:
            c.close()


def test_endpoint_shown_in_session(cluster: Cluster, project: Project,
                                   child: Credential) -> None:
    with psycopg.connect(tcp(cluster, child.role, child.password, "regress_child")) as conn:
        assert conn.execute("SHOW pgwarden.endpoint").fetchone() == ("regress_child",)
        with pytest.raises(psycopg.Error):
            conn.execute("SET pgwarden.endpoint = 'regress_other'")


def test_connection_string_selects_endpoint(cluster: Cluster, project: Project,
                                            child: Credential) -> None:
    project.create_endpoint("regress_child", "regress ro ü", "read_only")
    uri = branch_connection_string(host="127.0.0.1", port=cluster.port, database="regress_child",
                                   user=child.role, password=child.password,
                                   endpoint="regress ro ü", sslrootcert=str(cluster.ca_cert))
    assert uri.startswith("postgresql://") and "sslmode=verify-full" in uri
    with psycopg.connect(uri) as conn:
        assert conn.execute("SHOW pgwarden.endpoint").fetchone() == ("regress ro ü",)
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)


# -- read-only endpoints --------------------------------------------------------------

@pytest.fixture
def ro_branch(cluster: Cluster, project: Project) -> Iterator[str]:
    """regress_main (unprotected) with a read-only endpoint regress_ro, a
    sequence, a writing function and a function that tries to turn read-only
    off in its SET clause."""
    make_parent(cluster, rows=10)
    with cluster.connect("regress_main") as conn:
        conn.execute("CREATE SEQUENCE regress_seq")
        conn.execute("CREATE FUNCTION regress_write() RETURNS void LANGUAGE sql SECURITY DEFINER"
                     " AS $$ INSERT INTO items VALUES (-2, 'f') $$")
        conn.execute("CREATE FUNCTION regress_write_rw() RETURNS void LANGUAGE plpgsql"
                     " SET default_transaction_read_only = off"
                     " AS $$ BEGIN INSERT INTO items VALUES (-3, 'g'); END $$")
        conn.execute("CREATE PROCEDURE regress_proc() LANGUAGE plpgsql"
                     " AS $$ BEGIN COMMIT; SET TRANSACTION READ WRITE;"
                     " INSERT INTO items VALUES (-4, 'p'); COMMIT; END $$")
        conn.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO regress_app")
    project.create_endpoint("regress_main", "regress_ro", "read_only")
    yield "regress_ro"


WRITE_PATHS = [
    "INSERT INTO items VALUES (-1, 'x')",
    "UPDATE items SET v = 'x'",
    "DELETE FROM items",
    "CREATE TABLE regress_t (x int)",
    "CREATE TEMP TABLE regress_tt (x int)",
    "DROP TABLE items",
    "TRUNCATE items",
    "COPY items FROM PROGRAM 'echo 99,x' WITH (FORMAT csv)",
    "SELECT nextval('regress_seq')",
    "SELECT setval('regress_seq', 5)",
    "SELECT regress_write()",
    "SELECT regress_write_rw()",
    "CALL regress_proc()",
    "DO $$ BEGIN INSERT INTO items VALUES (-1, 'x');END $$",
    "WITH w AS (INSERT INTO items VALUES (-1, 'x') RETURNING 1) SELECT * FROM w",
    "SELECT lo_create(0)",
    "SELECT lo_from_bytea(0, 'x')",
    "SET default_transaction_read_only = off",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT set_config('transaction_read_only', 'off', false)",
    "BEGIN READ WRITE",
    "START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE",
    "BEGIN; SET TRANSACTION READ WRITE",
    "SET ROLE regress_app; INSERT INTO items VALUES (-1, 'x')",
    "RESET ALL; INSERT INTO items VALUES (-1, 'x')",
    "DISCARD ALL; INSERT INTO items VALUES (-1, 'x')",
    "RESET default_transaction_read_only; INSERT INTO items VALUES (-1, 'x')",
    "ALTER DATABASE regress_main SET default_transaction_read_only = off",
    "ALTER ROLE postgres SET default_transaction_read_only = off",
    "ALTER SYSTEM SET default_transaction_read_only = off",
    "VACUUM items",
    "COPY items TO PROGRAM 'cat > /dev/null'",
    "GRANT SELECT ON items TO PUBLIC",
    "COMMENT ON TABLE items IS 'x'",
    "SECURITY LABEL ON TABLE items IS 'x'",
    "SELECT pg_advisory_lock(1); INSERT INTO items VALUES (-1, 'x')",
]


def test_read_only_endpoint_resists_every_write_path(cluster: Cluster, ro_branch: str) -> None:
    """As a superuser over the Unix socket, one fresh session per path: every
    path fails with a read-only (or privilege) error and nothing changes."""
    def fingerprint() -> tuple[Any, ...]:
        with cluster.connect("regress_main") as c:
            row = c.execute(
                "SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM items t),"
                " (SELECT last_value FROM regress_seq),"
                " (SELECT count(*) FROM pg_class WHERE relname LIKE 'regress_t%'),"
                " (SELECT count(*) FROM pg_largeobject_metadata),"
                " (SELECT count(*) FROM pg_db_role_setting),"
                " (SELECT obj_description('items'::regclass))").fetchone()
            assert row is not None
            return tuple(row)

    before = fingerprint()
    got_through: list[str] = []
    for stmt in WRITE_PATHS:
        with psycopg.connect(local(cluster, "regress_main", ro_branch), autocommit=True) as conn:
            assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
            try:
                for part in stmt.split("; "):
                    conn.execute(part)
                # whatever was accepted (a lock, a BEGIN) must not allow a write
                conn.execute("INSERT INTO items VALUES (-1, 'x')")
                got_through.append(stmt)
            except psycopg.Error as exc:
                if exc.diag.sqlstate not in ("25006", "0A000", "42501", "22023", "55000"):
                    got_through.append(f"{stmt} ({exc.diag.sqlstate}: {exc.diag.message_primary})")
        if fingerprint() != before:
            got_through.append(f"{stmt} (changed the database)")
            before = fingerprint()
    with cluster.connect() as c:
        c.execute("ALTER SYSTEM RESET default_transaction_read_only")
    assert not got_through, got_through


def test_read_only_endpoint_over_tcp_with_startup_override(cluster: Cluster, ro_branch: str) -> None:
    """A client asking for read-write in its startup options is refused or ignored."""
    dsn = tcp(cluster, "regress_app", APP_PASSWORD, "regress_main",
              options=f"-c pgwarden.endpoint={ro_branch} -c default_transaction_read_only=off")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("INSERT INTO items VALUES (-1, 'x')")
    except psycopg.OperationalError as exc:
        assert "read-only endpoint" in str(exc)
    with psycopg.connect(tcp(cluster, "regress_app", APP_PASSWORD, "regress_main",
                             ro_branch)) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (10,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("UPDATE items SET v = 'x'")


def test_read_write_endpoint_writes(cluster: Cluster, ro_branch: str) -> None:
    with psycopg.connect(local(cluster, "regress_main", "regress_main"), autocommit=True) as conn:
        conn.execute("INSERT INTO items VALUES (-1, 'x')")
        conn.execute("SELECT nextval('regress_seq')")


# -- protected-only allowlist over real branches ----------------------------------------

def test_protected_only_allowlist_applies_to_protected_branches(
        cluster: Cluster, project: Project, gate: Any,
        connect_from: Connector) -> None:
    make_parent(cluster, "regress_main", protected=True)
    make_parent(cluster, "regress_other", owner="regress_app")
    allowlist.add(gate, ["127.0.0.2"])
    allowlist.set_protected_only(gate, True)
    allowlist.wait_published(gate)
    msg = connect_from("127.0.0.3", "regress_app", APP_PASSWORD, "regress_main")
    assert msg is not None
    admitted_from(connect_from, "127.0.0.3", "regress_app", APP_PASSWORD, "regress_other")
    admitted_from(connect_from, "127.0.0.2", "regress_app", APP_PASSWORD, "regress_main")
    project.unprotect("regress_main")
    admitted_from(connect_from, "127.0.0.3", "regress_app", APP_PASSWORD, "regress_main")
    project.protect("regress_other")
    refused_from(connect_from, "127.0.0.3", "regress_app", APP_PASSWORD, "regress_other")


def test_cli_connection_string_for_branch_role_and_endpoint(
        cluster: Cluster, project: Project, child: Credential,
        capsys: pytest.CaptureFixture[str]) -> None:
    from pgwarden import cli
    project.create_endpoint("regress_child", "regress_ro", "read_only")
    dsn = psycopg.conninfo.make_conninfo(cluster.local_dsn(CONTROL_DB))
    assert cli.main(["connection-string", "regress_child", "--role", "regress_app",
                     "--endpoint", "regress_ro", "--dsn", dsn, "--host", "127.0.0.1",
                     "--sslrootcert", str(cluster.ca_cert)]) == 0
    uri = capsys.readouterr().out.strip()
    assert "sslmode=verify-full" in uri
    assert_not_in(child.password, uri, "the connection string")
    with psycopg.connect(uri, password=child.password) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            child.role, "regress_child")
        assert conn.execute("SHOW pgwarden.endpoint").fetchone() == ("regress_ro",)
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
    assert cli.main(["connection-string", "regress_child", "--endpoint", "regress_main",
                     "--dsn", dsn, "--host", "127.0.0.1",
                     "--sslrootcert", str(cluster.ca_cert)]) == 1


# -- a streaming standby ----------------------------------------------------------------

def test_standby_enforces_branch_roles_and_endpoints(private_cluster: ClusterFactory) -> None:
    """Credentials bound on the primary are bound on a standby; an endpoint
    suspended on the primary is refused by the standby within one second."""
    import time

    from pgwarden.branches import Project as P

    hba = ["local all all trust", "local replication all trust",
           "host all all 127.0.0.0/8 scram-sha-256", "host all all ::1/128 scram-sha-256"]
    primary = private_cluster(hba=hba)
    with primary.connect() as conn:
        conn.execute("CREATE DATABASE regress_ctl")
    with primary.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden")
    make_parent_in(primary, "regress_ctl")
    project = P(primary.local_dsn("regress_ctl"))
    (cred,) = project.create_branch("regress_child", "regress_main",
                                    strategy="template").credentials
    with primary.connect() as conn:
        conn.execute("CHECKPOINT")  # else pg_basebackup waits for a spread checkpoint
    standby = primary.make_standby()
    try:
        standby.start()
        with primary.connect("regress_ctl") as conn:
            version = conn.execute("SELECT version FROM pgwarden.policy_version").fetchone()
        deadline = time.monotonic() + 10
        while True:
            with standby.connect("regress_ctl") as sconn:
                status = allowlist.policy_status(sconn)
            if status.state == "loaded" and version and status.version == version[0]:
                break
            assert time.monotonic() < deadline, status.detail
            time.sleep(0.05)
        child_dsn = standby.tcp_dsn(cred.role, cred.password, dbname="regress_child")
        admitted(child_dsn)
        msg = refused(standby.tcp_dsn(cred.role, cred.password, dbname="regress_main"))
        assert "endpoint unavailable" in msg
        assert standby.wait_for_log("refused (branch_role)")
        project.suspend_endpoint("regress_child")  # committed on the primary
        start = time.monotonic()
        while refusal(child_dsn) is None:
            assert time.monotonic() - start < 1.0, "the standby took over a second"
        assert "endpoint unavailable" in refused(child_dsn)
        assert standby.wait_for_log("refused (endpoint_suspended)")
    finally:
        standby.destroy()


def make_parent_in(cluster: Cluster, control: str) -> None:
    """make_parent() for a cluster whose control database is not the suite's."""
    with cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE regress_app LOGIN PASSWORD {}").format(
            sql.Literal(APP_PASSWORD)))
        conn.execute("CREATE DATABASE regress_main OWNER regress_app")
    with cluster.connect("regress_main") as conn:
        conn.execute("SET ROLE regress_app")
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, v text)")
    with cluster.connect(control) as conn:
        conn.execute("SELECT pgwarden.register_branch('regress_main')")
        conn.execute("SELECT pgwarden.protect_branch('regress_main')")


def test_branch_role_cannot_signal_parent_sessions(cluster: Cluster, child: Credential) -> None:
    """Membership in its parent role would let it terminate the parent's sessions."""
    with psycopg.connect(tcp(cluster, "regress_app", APP_PASSWORD, "regress_main"),
                         autocommit=True) as parent_session:
        pid = parent_session.info.backend_pid
        with psycopg.connect(tcp(cluster, child.role, child.password, "regress_child"),
                             autocommit=True) as conn:
            for fn in ("pg_terminate_backend", "pg_cancel_backend"):
                with pytest.raises(psycopg.Error) as info:
                    conn.execute(sql.SQL("SELECT {}(%s)").format(sql.Identifier(fn)), [pid])
                assert info.value.diag.sqlstate == "PW002"
        assert parent_session.execute("SELECT 1").fetchone() == (1,)
