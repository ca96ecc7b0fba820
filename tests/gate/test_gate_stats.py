"""What the gate did: pgwarden.gate_stats counts every decision of the
connection gate per outcome, with the time and address of the last one, and
pgwarden.gate_stats_reset() clears it (recorded in the audit log).

Each test makes real connections (refused or admitted) and reads the
counters' change.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from pgwarden import allowlist, cli
from pgwarden.branches import Credential, Project
from pgwarden.sandbox import Cluster
from support import CONTROL_DB
from support.branches import APP_PASSWORD, refused, tcp
from support.gate import Connector


def counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    return {r[0]: int(r[1]) for r in conn.execute(
        "SELECT reason, connections FROM pgwarden.gate_stats")}


def last(conn: psycopg.Connection[Any], reason: str) -> tuple[Any, Any]:
    row = conn.execute("SELECT last_at, last_client FROM pgwarden.gate_stats WHERE reason = %s",
                       [reason]).fetchone()
    assert row is not None
    return row[0], row[1]


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


def test_view_lists_every_outcome(admin: psycopg.Connection[Any]) -> None:
    assert list(counts(admin)) == [
        "admitted", "address_not_allowed", "tls_required", "endpoint_suspended",
        "endpoint_over_limit", "endpoint_foreign", "endpoint_unknown", "branch_role_confined",
        "policy_unreadable", "other"]


def test_refusals_by_address_and_tls_are_counted(gate: psycopg.Connection[Any],
                                                 make_role: Any,
                                                 connect_from: Connector) -> None:
    role, pw = make_role("stats")
    allowlist.add(gate, ["127.0.0.2", "127.0.0.1"])
    allowlist.wait_published(gate)
    before = counts(gate)
    assert connect_from("127.0.0.2", role, pw) is None
    assert connect_from("127.0.0.3", role, pw) is not None
    assert connect_from("127.0.0.4", role, pw) is not None
    assert connect_from("127.0.0.2", role, pw, sslmode="disable") is not None
    got = delta(before, counts(gate))
    assert got == {"admitted": 1, "address_not_allowed": 2, "tls_required": 1}
    at, client = last(gate, "address_not_allowed")
    assert at is not None and str(client) == "127.0.0.4"
    assert str(last(gate, "tls_required")[1]) == "127.0.0.2"
    # Unix-socket connections are admitted (exempt) and have no address
    with psycopg.connect(gate.info.dsn):
        pass
    assert last(gate, "admitted")[1] is None


def test_endpoint_and_branch_role_refusals_are_counted(
        cluster: Cluster, project: Project, child: Credential,
        admin: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]) -> None:
    before = counts(admin)
    refused(tcp(cluster, child.role, child.password, "regress_main"))
    refused(tcp(cluster, "regress_app", APP_PASSWORD, "regress_main", "regress_child"))
    refused(tcp(cluster, "regress_app", APP_PASSWORD, "regress_main", "regress_nope"))
    project.suspend_endpoint("regress_child")
    refused(tcp(cluster, child.role, child.password, "regress_child"))
    project.resume_endpoint("regress_child")
    project.create_endpoint("regress_child", "regress_one", max_connections=1)
    dsn = tcp(cluster, child.role, child.password, "regress_child", "regress_one")
    with psycopg.connect(dsn):
        refused(dsn)
        # pgwarden status lists the sessions each endpoint serves
        assert cli.main(["status", "--dsn", cluster.local_dsn(CONTROL_DB), "--output", "json"]) == 0
        eps = {e["name"]: e for e in json.loads(capsys.readouterr().out)["endpoints"]}
        assert eps["regress_one"]["sessions"] == 1 and eps["regress_one"]["max_connections"] == 1
    got = delta(before, counts(admin))
    assert got == {"branch_role_confined": 1, "endpoint_foreign": 1, "endpoint_unknown": 1,
                   "endpoint_suspended": 1, "endpoint_over_limit": 1, "admitted": got["admitted"]}
    assert got["admitted"] >= 1
    assert str(last(admin, "branch_role_confined")[1]) == "127.0.0.1"


def test_reset_is_admin_only_and_audited(cluster: Cluster, admin: psycopg.Connection[Any],
                                         make_role: Any) -> None:
    role, pw = make_role("stats_user")
    with psycopg.connect(cluster.tcp_dsn(role, pw, dbname=CONTROL_DB), autocommit=True) as conn:
        for stmt in ("SELECT * FROM pgwarden.gate_stats", "SELECT pgwarden.gate_stats_reset()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(stmt)
    member, mpw = make_role("stats_admin", admin_member=True)
    with psycopg.connect(cluster.tcp_dsn(member, mpw, dbname=CONTROL_DB), autocommit=True) as conn:
        assert counts(conn)["admitted"] > 0
        conn.execute("SELECT pgwarden.gate_stats_reset()")
    start = admin.execute("SELECT coalesce(max(id), 0) FROM pgwarden.audit_log").fetchone()[0]  # type: ignore[index]
    admin.execute("SELECT pgwarden.gate_stats_reset()")
    after = counts(admin)
    assert all(v == 0 for v in after.values())
    since = admin.execute("SELECT DISTINCT since FROM pgwarden.gate_stats").fetchall()
    assert len(since) == 1
    row = admin.execute("SELECT action, before FROM pgwarden.audit_log WHERE id > %s",
                        [start]).fetchone()
    assert row is not None and row[0] == "gate_stats.reset"
    assert row[1]["admitted"] >= 0
    member_row = admin.execute("SELECT session_user_name FROM pgwarden.audit_log"
                               " WHERE action = 'gate_stats.reset' AND id < %s"
                               " ORDER BY id DESC LIMIT 1", [start + 1]).fetchone()
    assert member_row == (member,)


def test_counting_can_be_switched_off(cluster: Cluster, admin: psycopg.Connection[Any]) -> None:
    admin.execute("ALTER SYSTEM SET pgwarden.gate_stats = off")
    try:
        admin.execute("SELECT pg_reload_conf()")
        before = None
        for _ in range(50):  # the postmaster rereads the file asynchronously
            before = counts(admin)["admitted"]
            with psycopg.connect(cluster.local_dsn(CONTROL_DB)):
                pass
            if counts(admin)["admitted"] == before:
                break
        with psycopg.connect(cluster.local_dsn(CONTROL_DB)):
            pass
        assert counts(admin)["admitted"] == before
    finally:
        admin.execute("ALTER SYSTEM RESET pgwarden.gate_stats")
        admin.execute("SELECT pg_reload_conf()")
