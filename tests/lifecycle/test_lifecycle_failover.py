"""Failover: a promoted streaming standby enforces the whole policy at once
(allowlist, protections, endpoints, branch roles) without a restart, and
accepts policy changes and branch operations as the new primary."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import sql

from pgwarden import allowlist
from pgwarden.branches import Credential, Project
from pgwarden.sandbox import Cluster
from support.clusters import ClusterFactory
from support.proxy import Proxy

APP_PASSWORD = "pgw_Fo7vQ2xK9pMw4RtZ8nD7"
HBA = ["local all all trust", "local replication all trust",
       "host all all 127.0.0.0/8 scram-sha-256", "host all all ::1/128 scram-sha-256"]


def refusal(c: Cluster, user: str, password: str, dbname: str, *, source: str = "127.0.0.1",
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


def wait_policy(c: Cluster, version: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with c.connect("regress_ctl") as conn:
            status = allowlist.policy_status(conn)
        if status.state == "loaded" and status.version >= version:
            return
        assert time.monotonic() < deadline, status.detail
        time.sleep(0.05)


@pytest.fixture
def primary(private_cluster: ClusterFactory) -> Cluster:
    return private_cluster(hba=HBA)


def build_project(c: Cluster) -> Credential:
    with c.connect() as conn:
        conn.execute(f"CREATE ROLE regress_app LOGIN PASSWORD '{APP_PASSWORD}'")
        conn.execute("CREATE DATABASE regress_ctl")
        conn.execute("CREATE DATABASE regress_shop OWNER regress_app")
    with c.connect("regress_shop") as conn:
        conn.execute("SET ROLE regress_app")
        conn.execute("CREATE TABLE items AS SELECT g AS id FROM generate_series(1, 10) g")
    with c.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden")
        allowlist.add(conn, ["127.0.0.1", "::1"])
    project = Project(c.local_dsn("regress_ctl"))
    project.register_branch("regress_shop")
    project.protect("regress_shop")
    project.create_endpoint("regress_shop", "regress_shop_ro", "read_only")
    (cred,) = project.create_branch("regress_dev", "regress_shop", strategy="template").credentials
    with c.connect() as conn:
        conn.execute("CHECKPOINT")
    return cred


def assert_policy_enforced(c: Cluster, cred: Credential) -> None:
    assert "connection refused: address not allowed" in (
        refusal(c, "regress_app", APP_PASSWORD, "regress_shop", source="127.0.0.2") or "")
    assert refusal(c, "regress_app", APP_PASSWORD, "regress_shop") is None
    assert refusal(c, cred.role, cred.password, "regress_dev") is None
    # a branch role outside its branch (the reason itself goes to the server log)
    assert "connection refused: endpoint unavailable" in (
        refusal(c, cred.role, cred.password, "regress_shop") or "")


def test_promoted_standby_enforces_the_policy_and_takes_changes(primary: Cluster) -> None:
    cred = build_project(primary)
    with primary.connect("regress_ctl") as conn:
        row = conn.execute("SELECT version FROM pgwarden.policy_version").fetchone()
        assert row is not None
        version = row[0]
    standby = primary.make_standby()
    try:
        standby.start()
        wait_policy(standby, version)
        assert_policy_enforced(standby, cred)

        primary.stop("immediate")           # the primary is lost
        standby.run(standby.bindir / "pg_ctl", "-D", standby.data, "-w", "promote")
        with standby.connect() as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)

        # The whole policy, at once, without a restart.
        assert_policy_enforced(standby, cred)
        with standby.connect() as conn:
            with pytest.raises(psycopg.Error) as info:
                conn.execute("DROP DATABASE regress_shop WITH (FORCE)")
            assert info.value.diag.sqlstate == "PW001"
        ro = psycopg.conninfo.make_conninfo(
            standby.tcp_dsn("regress_app", APP_PASSWORD, dbname="regress_shop"),
            options="-c pgwarden.endpoint=regress_shop_ro")
        with (psycopg.connect(ro, autocommit=True) as conn,
              pytest.raises(psycopg.errors.ReadOnlySqlTransaction)):
            conn.execute("INSERT INTO items VALUES (11)")

        # The new primary takes policy changes: the gate enforces them within a second.
        with standby.connect("regress_ctl") as conn:
            allowlist.add(conn, ["127.0.0.2"])
            started = time.monotonic()
            allowlist.wait_published(conn)
            assert time.monotonic() - started < 1.0
        assert refusal(standby, "regress_app", APP_PASSWORD, "regress_shop",
                       source="127.0.0.2") is None
        project = Project(standby.local_dsn("regress_ctl"))
        project.suspend_endpoint("regress_shop_ro")
        assert "endpoint unavailable" in (refusal(standby, "regress_app", APP_PASSWORD,
                                                  "regress_shop", endpoint="regress_shop_ro") or "")
        assert standby.wait_for_log('endpoint "regress_shop_ro" of branch "regress_shop" is suspended')
        # and branch operations
        with standby.connect("regress_dev") as conn:
            conn.execute(sql.SQL("INSERT INTO items VALUES (-1)"))
        project.reset_branch("regress_dev")
        with psycopg.connect(standby.tcp_dsn(cred.role, cred.password, dbname="regress_dev")
                             ) as conn:
            assert conn.execute("SELECT count(*) FROM items WHERE id = -1").fetchone() == (0,)
        with standby.connect("regress_ctl") as conn:
            assert conn.execute("SELECT count(*) FROM pgwarden.branch_operations"
                                ).fetchone() == (0,)
    finally:
        standby.destroy()
