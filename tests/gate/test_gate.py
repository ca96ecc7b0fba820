"""The connection gate: IP allowlist and required TLS, from real client addresses.

Clients appear at other loopback addresses (127.0.0.2, 127.0.0.3, ...) through
tests/support/proxy.py, and at ::1 directly.  Each test states one behaviour and checks
it against a real server: the connection refused or admitted, the message, the
row stored or not.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from pgwarden import allowlist
from pgwarden.sandbox import Cluster
from support import CONTROL_DB, ROOT, scram_raw
from support.clusters import ClusterFactory
from support.gate import SCRATCH_DB, SCRATCH_HBA, Connector, Scratch, refusal, tcp_dsn
from support.helpers import gate_detail
from support.proxy import Proxy


# --------------------------------------------------------------------------- the allowlist
def test_empty_allowlist_restricts_nobody(gate: Any, make_role: Any, connect_from: Connector) -> None:
    role, pw = make_role("empty")
    for source in ("127.0.0.1", "127.0.0.2", "::1"):
        assert connect_from(source, role, pw) is None


def test_single_address_admits_only_that_address(gate: Any, make_role: Any, cluster: Cluster,
                                                  connect_from: Connector) -> None:
    role, pw = make_role("single")
    allowlist.add(gate, ["127.0.0.2"])
    allowlist.wait_published(gate)
    assert connect_from("127.0.0.2", role, pw) is None
    msg = connect_from("127.0.0.3", role, pw)
    assert msg is not None and msg.startswith("pgwarden: connection refused: address not allowed")
    # the details are for the server log only
    gate_detail(cluster, f'Connection from 127.0.0.3 for role "{role}" and database '
                f'"postgres" refused (address_not_allowed): address 127.0.0.3 is not in the '
                "IP allowlist.")
    assert connect_from("127.0.0.1", role, pw) is not None
    assert connect_from("::1", role, pw) is not None


def test_range_and_cidr_entries(gate: Any, make_role: Any, connect_from: Connector) -> None:
    role, pw = make_role("ranges")
    allowlist.add(gate, ["127.0.0.10 - 127.0.0.20", "127.0.1.0/24"])
    allowlist.wait_published(gate)
    assert connect_from("127.0.0.10", role, pw) is None
    assert connect_from("127.0.0.20", role, pw) is None
    assert connect_from("127.0.0.21", role, pw) is not None
    assert connect_from("127.0.0.9", role, pw) is not None
    assert connect_from("127.0.1.77", role, pw) is None
    assert connect_from("127.0.2.1", role, pw) is not None


def test_ipv6_loopback_entry(gate: Any, make_role: Any, connect_from: Connector) -> None:
    role, pw = make_role("six")
    allowlist.add(gate, ["::1"])
    allowlist.wait_published(gate)
    assert connect_from("::1", role, pw) is None
    assert connect_from("127.0.0.1", role, pw) is not None
    allowlist.reset(gate)
    allowlist.add(gate, ["::/127"])  # ::0 and ::1
    allowlist.wait_published(gate)
    assert connect_from("::1", role, pw) is None


def test_ipv4_mapped_entry_admits_the_ipv4_client(gate: Any, make_role: Any,
                                                   connect_from: Connector) -> None:
    role, pw = make_role("mapped")
    allowlist.add(gate, ["::ffff:127.0.0.12"])
    allowlist.wait_published(gate)
    assert [e.entry for e in allowlist.list_entries(gate)] == ["127.0.0.12"]
    assert connect_from("127.0.0.12", role, pw) is None
    assert connect_from("127.0.0.13", role, pw) is not None


def test_ipv4_mapped_client_matches_ipv4_entries(gate: Any) -> None:
    # PostgreSQL sets IPV6_V6ONLY on its listening sockets, so no real client
    # can reach it with an IPv4-mapped source; check_connection runs the very
    # matcher the gate runs, over the same published snapshot.
    allowlist.add(gate, ["127.0.0.5", "10.0.0.0/8"])
    allowlist.wait_published(gate)
    assert allowlist.check_connection(gate, "::ffff:127.0.0.5", "regress_x", "postgres") \
        .startswith("allow: address ::ffff:127.0.0.5 is in the IP allowlist")
    assert allowlist.check_connection(gate, "::ffff:10.9.8.7", "regress_x", "postgres") \
        .startswith("allow:")
    assert allowlist.check_connection(gate, "::ffff:127.0.0.6", "regress_x", "postgres") \
        .startswith("deny: address ::ffff:127.0.0.6 is not in the IP allowlist")


def test_per_role_entries(gate: Any, make_role: Any, connect_from: Connector) -> None:
    alice, apw = make_role("alice")
    bob, bpw = make_role("bob")
    allowlist.add(gate, ["127.0.0.4"], role=alice)
    allowlist.wait_published(gate)
    # only alice is restricted: no entry applies to bob
    assert connect_from("127.0.0.4", alice, apw) is None
    assert connect_from("127.0.0.5", alice, apw) is not None
    assert connect_from("127.0.0.5", bob, bpw) is None
    # a global entry applies to everyone, alongside alice's own
    allowlist.add(gate, ["127.0.0.6"])
    allowlist.wait_published(gate)
    assert connect_from("127.0.0.6", alice, apw) is None
    assert connect_from("127.0.0.4", alice, apw) is None
    assert connect_from("127.0.0.4", bob, bpw) is not None
    assert connect_from("127.0.0.6", bob, bpw) is None
    rows = allowlist.list_entries(gate, role=alice)
    assert [(r.entry, r.role, r.kind) for r in rows] == [("127.0.0.4", alice, "address")]


def test_per_role_entry_for_a_name_that_needs_quoting(gate: Any, make_role: Any,
                                                       cluster: Cluster,
                                                       connect_from: Connector) -> None:
    role, pw = make_role('q "uoted" ünï')
    allowlist.add(gate, ["127.0.0.4"], role=role)
    allowlist.wait_published(gate)
    assert [e.role for e in allowlist.list_entries(gate)] == [role]
    assert connect_from("127.0.0.4", role, pw) is None
    msg = connect_from("127.0.0.5", role, pw)
    assert msg is not None and "address not allowed" in msg and role not in msg
    gate_detail(cluster, f'for role "{role}"', "(address_not_allowed)")


def test_entries_for_unknown_role_are_refused(gate: Any) -> None:
    with pytest.raises(errors.UndefinedObject, match='role "regress_nobody" does not exist'):
        allowlist.add(gate, ["127.0.0.4"], role="regress_nobody")


@pytest.mark.parametrize("entry, detail", [
    ("127.0.0.1/8", "host bits set to the right of the /8 prefix"),
    ("10.0.0.9-10.0.0.1", "The range is backwards"),
    ("10.0.0.1-::1", "both ends must be of the same family"),
    ("db.example.com", "is not an IPv4 or IPv6 address"),
    ("10.0.0.1-10.0.0.5-10.0.0.9", "joined by one \"-\""),
    ("300.1.1.1", "is not an IPv4 or IPv6 address"),
    ("10.0.0.0/33", "out of range for IPv4"),
    ("fe80::1%eth0", "is not an IPv4 or IPv6 address"),
    ("", "The entry is empty"),
])
def test_bad_entry_is_refused_and_nothing_stored(gate: Any, entry: str, detail: str) -> None:
    allowlist.add(gate, ["192.0.2.1"])
    with pytest.raises(errors.InvalidParameterValue) as info:
        allowlist.add(gate, ["198.51.100.1", entry])
    assert info.value.diag.sqlstate == "22023"
    assert info.value.diag.message_primary == f'invalid IP allowlist entry "{entry}"'
    assert detail in (info.value.diag.message_detail or "")
    assert info.value.diag.message_hint
    if entry == "10.0.0.9-10.0.0.1":
        assert info.value.diag.message_hint == 'Did you mean "10.0.0.1-10.0.0.9"?'
    assert [e.entry for e in allowlist.list_entries(gate)] == ["192.0.2.1"]


def test_entries_are_normalised(gate: Any) -> None:
    allowlist.add(gate, [" 2001:DB8:0:0::1 ", "10.0.0.1/32", "192.0.2.5-192.0.2.5",
                         "2001:db8::/32", "10.0.0.1", "::ffff:198.51.100.0/120",
                         "::ffff:203.0.113.7"], comment="office")
    rows = allowlist.list_entries(gate)
    assert [(r.entry, r.kind) for r in rows] == [
        ("10.0.0.1", "address"), ("192.0.2.5", "address"), ("198.51.100.0/24", "cidr"),
        ("203.0.113.7", "address"), ("2001:db8::/32", "cidr"), ("2001:db8::1", "address")]
    assert {r.comment for r in rows} == {"office"}
    assert allowlist.add(gate, ["10.0.0.1"]) == 0  # already there


def test_remove_unknown_entry_names_it(gate: Any) -> None:
    allowlist.add(gate, ["192.0.2.1"])
    with pytest.raises(errors.UndefinedObject, match='entry "192.0.2.2" does not exist'):
        allowlist.remove(gate, ["192.0.2.1", "192.0.2.2"])
    assert [e.entry for e in allowlist.list_entries(gate)] == ["192.0.2.1"]


def test_changes_are_transactional(gate: Any, cluster: Cluster) -> None:
    with cluster.connect(CONTROL_DB) as conn, pytest.raises(errors.DivisionByZero), \
            conn.transaction():
        allowlist.add(conn, ["192.0.2.1"])
        conn.execute("SELECT 1/0")
    assert allowlist.list_entries(gate) == []
    assert allowlist.check_connection(gate, "127.0.0.9", "regress_x", "postgres").startswith(
        "allow: no IP allowlist entry applies")


# --------------------------------------------------------------------------- privileges
def test_non_admin_cannot_read_or_change(gate: Any, make_role: Any, cluster: Cluster) -> None:
    role, _ = make_role("plain")
    with psycopg.connect(cluster.local_dsn(CONTROL_DB, user=role), autocommit=True) as conn:
        for stmt in ("SELECT * FROM pgwarden.ip_allowlist",
                     "SELECT * FROM pgwarden.ip_allow_entries",
                     "SELECT pgwarden.ip_allow_add(ARRAY['127.0.0.2'])",
                     "SELECT pgwarden.ip_allow_remove(ARRAY['127.0.0.2'])",
                     "SELECT pgwarden.ip_allow_reset()",
                     "SELECT pgwarden.ip_allow_protected_only(true)",
                     "SELECT pgwarden.check_connection('127.0.0.2', 'x', 'y')",
                     "INSERT INTO pgwarden.ip_allow_entries VALUES ('1.2.3.4')"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(stmt)


def test_admin_member_manages_the_allowlist(gate: Any, make_role: Any, cluster: Cluster) -> None:
    role, _ = make_role("warden", admin_member=True)
    with psycopg.connect(cluster.local_dsn(CONTROL_DB, user=role), autocommit=True) as conn:
        assert allowlist.add(conn, ["192.0.2.0/24"], comment="lab") == 1
        assert [e.created_by for e in allowlist.list_entries(conn)] == [role]
        assert allowlist.check_connection(conn, "192.0.2.9", role, "postgres").startswith("allow")
        assert allowlist.remove(conn, ["192.0.2.0/24"]) == 1


# --------------------------------------------------------------------------- self-lockout
def test_removal_that_locks_out_the_caller_is_refused(gate: Any, make_role: Any,
                                                      cluster: Cluster, via: Any) -> None:
    role, pw = make_role("lockout", admin_member=True)
    allowlist.add(gate, ["127.0.0.7", "127.0.0.8", "127.0.0.9"])
    allowlist.wait_published(gate)
    dsn = tcp_dsn(cluster, role, pw, port=via("127.0.0.7").port, dbname=CONTROL_DB)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert allowlist.remove(conn, ["127.0.0.8"]) == 1  # not ours: fine
        with pytest.raises(errors.ObjectNotInPrerequisiteState) as info:
            allowlist.remove(conn, ["127.0.0.7"])
        assert "lock out this session's address" in info.value.diag.message_primary
        assert info.value.diag.message_detail == (
            "Afterwards the gate would refuse this connection: "
            "address 127.0.0.7 is not in the IP allowlist.")
        assert "force => true" in (info.value.diag.message_hint or "")
        assert [e.entry for e in allowlist.list_entries(conn)] == ["127.0.0.7", "127.0.0.9"]
        # removing every entry leaves an empty allowlist, which locks nobody out;
        # so does a reset
        assert allowlist.remove(conn, ["127.0.0.7", "127.0.0.9"]) == 2
        allowlist.add(conn, ["127.0.0.8", "127.0.0.9"])
        assert allowlist.reset(conn) == 2
        allowlist.add(conn, ["127.0.0.7", "127.0.0.8"])
        assert allowlist.remove(conn, ["127.0.0.7"], force=True) == 1
        # adding never refuses, but warns when it shuts out the caller
        allowlist.reset(conn)
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        allowlist.add(conn, ["127.0.0.9"])
        assert notices == ["new connections from this session's address will be refused"]


# --------------------------------------------------------------------------- protected-only
def test_protected_only_mode(gate: Any, make_role: Any, connect_from: Connector) -> None:
    role, pw = make_role("protonly")
    allowlist.add(gate, ["127.0.0.2"])
    allowlist.wait_published(gate)
    assert connect_from("127.0.0.3", role, pw) is not None
    assert allowlist.set_protected_only(gate, True) is True
    allowlist.wait_published(gate)
    assert allowlist.protected_only(gate)
    # postgres is not a protected branch: the allowlist no longer applies to it
    assert connect_from("127.0.0.3", role, pw) is None
    assert allowlist.check_connection(gate, "127.0.0.3", role, "postgres") == (
        'allow: database "postgres" is not a protected branch and the IP allowlist applies '
        "to protected branches only (TLS is required: pgwarden.require_ssl is on)")
    allowlist.set_protected_only(gate, False)
    allowlist.wait_published(gate)
    assert connect_from("127.0.0.3", role, pw) is not None


def test_protected_only_restricts_protected_branches(gate: Any, make_role: Any,
                                                     cluster: Cluster,
                                                     connect_from: Connector) -> None:
    role, pw = make_role("branch_user")
    db = "regress_gate_protected"
    with cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    try:
        gate.execute("SELECT pgwarden.register_branch(%s)", (db,))
        gate.execute("SELECT pgwarden.protect_branch(%s)", (db,))
        allowlist.add(gate, ["127.0.0.2"])
        allowlist.set_protected_only(gate, True)
        allowlist.wait_published(gate)
        msg = connect_from("127.0.0.3", role, pw, dbname=db)
        assert msg is not None and "address not allowed" in msg
        assert connect_from("127.0.0.2", role, pw, dbname=db) is None
        assert connect_from("127.0.0.3", role, pw, dbname="postgres") is None
        assert allowlist.check_connection(gate, "127.0.0.3", role, db).startswith("deny:")
        # unprotected, the branch is no longer restricted
        gate.execute("SELECT pgwarden.unprotect_branch(%s)", (db,))
        allowlist.wait_published(gate)
        assert connect_from("127.0.0.3", role, pw, dbname=db) is None
    finally:
        gate.execute("SELECT pgwarden.unprotect_branch(%s) FROM pgwarden.branch WHERE name = %s "
                     "AND protected", (db, db))
        with cluster.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(db)))
        gate.execute("SELECT pgwarden.sync_branches()")


# --------------------------------------------------------------------------- TLS, sockets
def test_plaintext_tcp_is_refused_saying_tls_is_required(gate: Any, make_role: Any,
                                                         connect_from: Connector) -> None:
    role, pw = make_role("plain_tcp")
    for source in ("127.0.0.1", "::1", "127.0.0.2"):
        msg = connect_from(source, role, pw, sslmode="disable")
        assert msg is not None and "pgwarden: connection refused: TLS required" in msg
        assert "sslmode=verify-full" in msg  # the HINT
    assert connect_from("127.0.0.1", role, pw, sslmode="require") is None


def test_require_ssl_off_admits_plaintext(gate: Any, make_role: Any, cluster: Cluster,
                                          connect_from: Connector) -> None:
    role, pw = make_role("ssl_off")
    gate.execute("ALTER SYSTEM SET pgwarden.require_ssl = off")
    gate.execute("SELECT pg_reload_conf()")
    try:
        deadline = time.monotonic() + 5
        while connect_from("127.0.0.1", role, pw, sslmode="disable") is not None:
            assert time.monotonic() < deadline, "require_ssl = off was not applied"
            time.sleep(0.05)
        # the allowlist still applies to plaintext connections
        allowlist.add(gate, ["127.0.0.2"])
        allowlist.wait_published(gate)
        assert connect_from("127.0.0.2", role, pw, sslmode="disable") is None
        assert "address not allowed" in (connect_from("127.0.0.3", role, pw,
                                                      sslmode="disable") or "")
    finally:
        gate.execute("ALTER SYSTEM RESET pgwarden.require_ssl")
        gate.execute("SELECT pg_reload_conf()")
        time.sleep(0.3)
    deadline = time.monotonic() + 5
    while connect_from("127.0.0.2", role, pw, sslmode="disable") is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_unix_socket_is_exempt_by_default(gate: Any, make_role: Any, cluster: Cluster) -> None:
    role, _ = make_role("local")
    allowlist.add(gate, ["192.0.2.1"])
    allowlist.wait_published(gate)
    with psycopg.connect(cluster.local_dsn(user=role)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert allowlist.check_connection(gate, None, role, "postgres") == (
        "allow: Unix-socket connections are exempt (pgwarden.local_connections = exempt)")


# --------------------------------------------------------------------------- propagation, log
def test_change_reaches_new_connections_within_one_second(gate: Any, make_role: Any,
                                                          connect_from: Connector) -> None:
    role, pw = make_role("fast")
    assert connect_from("127.0.0.3", role, pw) is None
    allowlist.add(gate, ["127.0.0.2"])  # committed (autocommit)
    start = time.monotonic()
    while connect_from("127.0.0.3", role, pw) is None:
        assert time.monotonic() - start < 1.0, "the change took over a second"
    assert time.monotonic() - start < 1.0


def test_refusal_is_one_clear_log_line(gate: Any, make_role: Any, cluster: Cluster,
                                       connect_from: Connector) -> None:
    from support.helpers import assert_not_logged

    role, pw = make_role("logline")
    allowlist.add(gate, ["127.0.0.2"])
    allowlist.wait_published(gate)
    before = len(cluster.read_log().splitlines())
    assert connect_from("127.0.0.11", role, pw) is not None
    detail = gate_detail(cluster, "Connection from 127.0.0.11")
    new = cluster.read_log().splitlines()[before:]
    lines = [ln for ln in new if "Connection from 127.0.0.11" in ln]
    assert len(lines) == 1 and lines[0] == detail
    fatal = new[new.index(detail) - 1]
    assert fatal.endswith("FATAL:  pgwarden: connection refused: address not allowed")
    assert f'role "{role}"' in detail and 'database "postgres"' in detail
    assert "address 127.0.0.11 is not in the IP allowlist" in detail
    assert_not_logged(cluster, pw)


# --------------------------------------------------------------------------- no oracle
def test_denied_address_gets_identical_bytes_for_right_and_wrong_password(
        gate: Any, make_role: Any, cluster: Cluster, via: Any) -> None:
    role, pw = make_role("oracle")
    wrong = pw[:-1] + ("x" if pw[-1] != "x" else "y")
    allowlist.add(gate, ["127.0.0.2"])
    allowlist.wait_published(gate)
    ca = str(cluster.ca_cert)

    def run(source: str, user: str, password: str) -> scram_raw.Transcript:
        p = via(source)
        return scram_raw.connect("127.0.0.1", p.port, user, password, "postgres", cafile=ca)

    # Control: from an allowed address the raw client sees the whole exchange, so
    # a right password (SASLFinal + AuthenticationOk) differs from a wrong one.
    ok = run("127.0.0.2", role, pw)
    bad = run("127.0.0.2", role, wrong)
    assert ok.auth_codes()[:4] == [10, 11, 12, 0] and ok.authenticated
    assert bad.auth_codes() == [10, 11] and bad.error_fields()["C"] == "28P01"

    # From a denied address: one ErrorResponse, no authentication request at
    # all, byte-identical whatever the credentials.
    right: list[scram_raw.Transcript] = []
    wrongs: list[scram_raw.Transcript] = []
    for _ in range(7):  # interleaved, so load drift hits both alike
        right.append(run("127.0.0.3", role, pw))
        wrongs.append(run("127.0.0.3", role, wrong))
    unknown = run("127.0.0.3", "regress_no_such_role", wrong)
    reference = right[0].raw()
    for t in right + wrongs:
        assert t.auth_codes() == []
        assert t.raw() == reference
    assert right[0].error_fields()["C"] == "28000"
    assert unknown.auth_codes() == []
    assert [(t, p.replace(b"regress_no_such_role", role.encode()))
            for t, p in unknown.messages] == right[0].messages
    # and the same timing: no password work happens on either path
    r = statistics.median(t.seconds for t in right)
    w = statistics.median(t.seconds for t in wrongs)
    assert abs(r - w) < max(0.5 * min(r, w), 0.02)


# --------------------------------------------------------------------------- own clusters
def test_allowlist_survives_restart(fresh: Scratch) -> None:
    with fresh.admin() as conn:
        allowlist.add(conn, ["127.0.0.2"])
        allowlist.set_protected_only(conn, False)
    fresh.cluster.restart()
    assert fresh.attempt("127.0.0.2") is None
    assert "address not allowed" in (fresh.attempt("127.0.0.3") or "")
    with fresh.admin() as conn:
        assert [e.entry for e in allowlist.list_entries(conn)] == ["127.0.0.2"]
        assert allowlist.policy_status(conn).state == "loaded"


def test_fail_closed_when_the_policy_cannot_be_read(fresh: Scratch) -> None:
    c = fresh.cluster
    assert fresh.attempt() is None
    with fresh.admin() as conn:
        conn.execute("ALTER TABLE pgwarden.policy_version RENAME TO policy_version_moved")
    try:
        assert c.wait_for_log("pgwarden: connection policy damaged, connections are refused",
                              timeout=2)
        msg = fresh.attempt()
        assert msg is not None and "pgwarden: connection refused: policy unavailable" in msg
        assert "policy_version" not in msg
        assert "policy_version" in gate_detail(c, "(policy_damaged)")
        with fresh.admin() as conn:  # a superuser over a Unix socket still gets in
            assert allowlist.policy_status(conn).state == "damaged"
            assert allowlist.check_connection(conn, "127.0.0.1", fresh.role, "postgres") \
                .startswith("deny: the connection policy cannot be read")
    finally:
        with fresh.admin() as conn:
            conn.execute("ALTER TABLE pgwarden.policy_version_moved RENAME TO policy_version")
    deadline = time.monotonic() + 1.0
    while fresh.attempt() is not None:
        assert time.monotonic() < deadline, "the gate did not recover within a second"
    assert c.wait_for_log("pgwarden: connection policy loaded again", timeout=2)


def test_fail_closed_until_the_policy_is_loaded(fresh: Scratch) -> None:
    c = fresh.cluster
    # no background worker slot for the loader: the policy never loads
    c.append_conf(["max_worker_processes = 1", "max_logical_replication_workers = 0",
                   "pgwarden.policy_load_timeout = 200"])
    c.restart()
    try:
        msg = fresh.attempt()
        assert msg is not None and "policy unavailable" in msg
        assert "the connection policy is not loaded yet" in gate_detail(c, "(policy_not_loaded)")
        assert c.wait_for_log("pgwarden: could not start the policy loader", timeout=2)
        with fresh.admin() as conn:
            assert allowlist.policy_status(conn).state == "not loaded"
    finally:
        c.append_conf(["max_worker_processes = 8", "max_logical_replication_workers = 4",
                       "pgwarden.policy_load_timeout = 2000"])
        c.restart()
    assert fresh.attempt() is None


def test_local_connections_enforce(fresh: Scratch) -> None:
    c = fresh.cluster
    with fresh.admin() as conn:
        pw = conn.execute("SELECT pgwarden.generate_password()").fetchone()[0]  # type: ignore[index]
        conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(pw)))
        conn.execute("ALTER SYSTEM SET pgwarden.local_connections = 'enforce'")
        conn.execute("SELECT pg_reload_conf()")
    tcp_admin = tcp_dsn(c, "postgres", pw, dbname=SCRATCH_DB)
    try:
        deadline = time.monotonic() + 5
        while (msg := refusal(c.local_dsn(SCRATCH_DB))) is None:
            assert time.monotonic() < deadline, "local_connections = enforce was not applied"
            time.sleep(0.05)
        assert "pgwarden: connection refused: TLS required" in msg
        assert "Unix-socket connections cannot use TLS" in gate_detail(
            c, 'Connection from local socket for role "postgres"', "(tls_required)")
    finally:
        with psycopg.connect(tcp_admin, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET pgwarden.local_connections")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("ALTER ROLE postgres PASSWORD NULL")
    deadline = time.monotonic() + 5
    while refusal(c.local_dsn(SCRATCH_DB)) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_standby_enforces_a_primary_change_within_one_second(fresh: Scratch) -> None:
    primary = fresh.cluster
    standby = primary.make_standby()
    try:
        standby.start()
        with fresh.admin() as conn:
            version = conn.execute("SELECT version FROM pgwarden.policy_version").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + 10
        while True:
            with standby.connect(SCRATCH_DB) as sconn:
                status = allowlist.policy_status(sconn)
                assert sconn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            if status.state == "loaded" and status.version == version:
                break
            assert time.monotonic() < deadline, status.detail
            time.sleep(0.05)
        assert fresh.attempt("127.0.0.3", cluster=standby) is None

        with Proxy(standby.port, "127.0.0.3") as p:
            dsn = tcp_dsn(standby, fresh.role, fresh.password, port=p.port)
            with fresh.admin() as conn:
                allowlist.add(conn, ["127.0.0.2"])  # committed on the primary
            start = time.monotonic()
            while refusal(dsn) is None:
                assert time.monotonic() - start < 1.0, "the standby took over a second"
            elapsed = time.monotonic() - start
        assert elapsed < 1.0
        assert fresh.attempt("127.0.0.2", cluster=standby) is None
        assert "address not allowed" in (fresh.attempt("127.0.0.3", cluster=standby) or "")
    finally:
        standby.destroy()


# --------------------------------------------------------------------------- CLI, README
def run_cli(*argv: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from pgwarden.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cli_ip_allow(gate: Any, make_role: Any, cluster: Cluster) -> None:
    import json

    role, _ = make_role("cli")
    dsn = cluster.local_dsn(CONTROL_DB)
    code, out, _ = run_cli("ip-allow", "add", "203.0.113.7", "198.51.100.20-198.51.100.50",
                           "--dsn", dsn, "--output", "json")
    assert code == 0
    data = json.loads(out)
    assert data["protected_only"] is False
    assert [e["entry"] for e in data["entries"]] == ["198.51.100.20-198.51.100.50", "203.0.113.7"]
    code, out, _ = run_cli("ip-allow", "add", "10.0.0.0/8", "--role", role, "--comment",
                           "office VPN", "--dsn", dsn)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["entry", "role", "kind", "comment", "created_at", "created_by"]
    assert any(ln.startswith("10.0.0.0/8") and role in ln and "office VPN" in ln for ln in lines)
    assert lines[-1] == "protected only: no"
    code, out, _ = run_cli("ip-allow", "check", "198.51.100.30", "--role", role,
                           "--database", "shop", "--dsn", dsn)
    assert (code, out) == (0, ("allow: address 198.51.100.30 is in the IP allowlist (TLS is "
                               "required: pgwarden.require_ssl is on)\n"))
    code, out, _ = run_cli("ip-allow", "check", "192.0.2.1", "--role", "regress_x",
                           "--database", "shop", "--dsn", dsn, "--output", "json")
    assert code == 1 and json.loads(out) == {
        "address": "192.0.2.1", "role": "regress_x", "database": "shop", "allow": False,
        "reason": "address 192.0.2.1 is not in the IP allowlist"}
    assert run_cli("ip-allow", "scope", "--protected-only", "true", "--dsn", dsn)[0] == 0
    code, out, _ = run_cli("ip-allow", "list", "--role", role, "--dsn", dsn, "--output", "json")
    data = json.loads(out)
    assert data["protected_only"] is True and [e["entry"] for e in data["entries"]] == ["10.0.0.0/8"]
    code, _, err = run_cli("ip-allow", "add", "10.0.0.1/8", "--dsn", dsn)
    assert code == 3 and 'invalid IP allowlist entry "10.0.0.1/8"' in err
    assert 'HINT: Did you mean "10.0.0.0/8"?' in err
    code, out, _ = run_cli("ip-allow", "remove", "203.0.113.7", "--dsn", dsn, "--output", "json")
    assert code == 0 and "203.0.113.7" not in [e["entry"] for e in json.loads(out)["entries"]]
    code, out, _ = run_cli("ip-allow", "reset", "--protected-only", "false", "--dsn", dsn,
                           "--yes")
    assert code == 0 and out.splitlines()[-1] == (
        "protected only: no (empty allowlist: no address is restricted)")
    assert allowlist.list_entries(gate) == []


def readme_block(start: str) -> str:

    text = (ROOT / "README.md").read_text()
    i = text.index(start)
    return text[i:text.index("```", i)]


def test_readme_allowlist_examples(gate: Any, make_role: Any) -> None:
    import re

    role, _ = make_role("app")
    block = readme_block("SELECT pgwarden.ip_allow_add(ARRAY['203.0.113.7'")

    def run(stmt: str) -> Any:
        return gate.execute(stmt.replace("'app'", f"'{role}'")).fetchone()

    statements = re.findall(r"^(SELECT .*?;)", block, re.MULTILINE)
    assert run(statements[0]) == (3,)
    run(statements[1])
    rows = gate.execute("SELECT entry, coalesce(role, ''), kind, coalesce(comment, '') "
                        "FROM pgwarden.ip_allowlist").fetchall()
    documented = [tuple(c.strip() for c in ln[2:].split("|")) for ln in block.splitlines()
                  if ln.startswith("-- ") and ln.count("|") == 3 and "entry" not in ln]
    assert [(e, r.replace(role, "app"), k, c) for e, r, k, c in rows] == documented
    said = re.search(r"check_connection\(.*\);\n-- (.*)", block)
    # check_connection reads the published policy: the change is there within a second
    allowlist.wait_published(gate)
    assert said is not None and run(statements[3])[0] == said.group(1)

    bad = readme_block("SELECT pgwarden.ip_allow_add(ARRAY['192.0.2.1', '10.0.0.1/8']);")
    fields = dict(re.findall(r"-- (ERROR|DETAIL|HINT):\s+(.*)", bad))
    with pytest.raises(errors.InvalidParameterValue) as info:
        gate.execute(bad.splitlines()[0])
    d = info.value.diag
    assert fields == {"ERROR": d.message_primary, "DETAIL": d.message_detail,
                      "HINT": d.message_hint}


def test_allowlist_bigger_than_policy_memory_is_refused(fresh: Scratch) -> None:
    c = fresh.cluster
    c.append_conf(["pgwarden.policy_memory = 64"])
    c.restart()
    try:
        with fresh.admin() as conn:
            assert allowlist.policy_status(conn).memory_capacity == 64 * 1024
            many = [f"10.{i // 256 % 256}.{i % 256}.1" for i in range(10000)]
            with pytest.raises(errors.ProgramLimitExceeded) as info:
                allowlist.add(conn, many)
            assert "does not fit in pgwarden.policy_memory" in info.value.diag.message_primary
            assert "pgwarden.policy_memory is 64 kB" in (info.value.diag.message_detail or "")
            assert allowlist.list_entries(conn) == []
            assert allowlist.add(conn, many[:1000]) == 1000
    finally:
        c.append_conf(["pgwarden.policy_memory = 8192"])
        c.restart()


def test_pg_dump_carries_the_allowlist(fresh: Scratch) -> None:
    c = fresh.cluster
    with fresh.admin() as conn:
        allowlist.add(conn, ["192.0.2.0/24"], role=fresh.role, comment="lab")
        allowlist.set_protected_only(conn, True)
    try:
        dump = c.run(c.bindir / "pg_dump", "-h", c.sockdir, "-p", str(c.port), "-U", "postgres",
                     SCRATCH_DB).stdout
        assert "COPY pgwarden.ip_allow_entries" in dump
        assert f"192.0.2.0/24\t{fresh.role}\tcidr" in dump
        assert "COPY pgwarden.gate_settings" in dump and "ip_allow_protected_only\ttrue" in dump
    finally:
        with fresh.admin() as conn:
            allowlist.set_protected_only(conn, False)


def test_drop_extension_lifts_the_allowlist(fresh: Scratch) -> None:
    with fresh.admin() as conn:
        allowlist.add(conn, ["127.0.0.2"])
        allowlist.wait_published(conn)
    assert fresh.attempt("127.0.0.3") is not None
    with fresh.admin() as conn:
        conn.execute("DROP EXTENSION pgwarden")
    try:
        start = time.monotonic()
        while fresh.attempt("127.0.0.3") is not None:
            assert time.monotonic() - start < 1.0, "dropping pgwarden did not lift the allowlist"
        with fresh.admin() as conn:  # the worker removes its mark from the database
            deadline = time.monotonic() + 2
            while conn.execute("SELECT count(*) FROM pg_shseclabel "
                               "WHERE provider = 'pgwarden_control'").fetchone() != (0,):
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        with fresh.admin() as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgwarden")
            allowlist.wait_published(conn)
            assert allowlist.list_entries(conn) == []


# --------------------------------------------------------------------------- matcher model
def test_matcher_agrees_with_a_model(gate: Any) -> None:
    """Random overlapping entries and clients: the gate decides as ipaddress does."""
    import ipaddress
    import random

    rng = random.Random(4)

    def v4(n: int) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address(0x0A000000 + n)  # 10.0.0.0 + n, a dense space

    def v6(n: int) -> ipaddress.IPv6Address:
        return ipaddress.IPv6Address((0x20010DB8 << 96) + n)

    for _ in range(12):
        allowlist.reset(gate, force=True)
        entries: list[str] = []
        model: list[tuple[Any, Any]] = []
        for _ in range(rng.randint(1, 40)):
            make = v4 if rng.random() < 0.7 else v6
            kind = rng.choice(("address", "range", "cidr"))
            a = rng.randint(0, 4000)
            if kind == "address":
                lo = hi = make(a)
                entries.append(str(lo))
            elif kind == "range":
                lo, hi = make(a), make(a + rng.randint(0, 300))
                entries.append(f"{lo}-{hi}")
            else:
                bits = (32 if make is v4 else 128) - rng.randint(0, 9)
                net = ipaddress.ip_network(f"{make(a)}/{bits}", strict=False)
                lo, hi = net.network_address, net.broadcast_address
                entries.append(str(net))
            model.append((lo, hi))
        allowlist.add(gate, entries)
        allowlist.wait_published(gate)
        clients = [str(v4(rng.randint(0, 4500))) for _ in range(60)] + \
                  [str(v6(rng.randint(0, 4500))) for _ in range(30)] + \
                  [f"::ffff:{v4(rng.randint(0, 4500))}" for _ in range(20)]
        got = gate.execute(
            "SELECT c, pgwarden.check_connection(c::inet, 'regress_model', 'postgres') "
            "FROM unnest(%s::text[]) c", (clients,)).fetchall()
        for client, verdict in got:
            ip = ipaddress.ip_address(client)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            expect = any(type(lo) is type(ip) and lo <= ip <= hi for lo, hi in model)
            assert verdict.startswith("allow:") == expect, (client, verdict)


@pytest.mark.slow
def test_one_hundred_thousand_entries(fresh: Scratch) -> None:
    """100,000 entries load, publish and gate correctly (timings: bench/connection_gate.py)."""
    import ipaddress

    many = [str(ipaddress.IPv4Address(0x0A000000 + 2 * i)) for i in range(100_000)]
    with fresh.admin() as conn:
        for i in range(0, len(many), 10_000):
            allowlist.add(conn, many[i:i + 10_000])
        allowlist.add(conn, ["127.0.0.2"])
        status = allowlist.wait_published(conn, timeout=30)
        assert status.memory_used > 100_000 * 8
        assert allowlist.check_connection(conn, many[-1], fresh.role, "postgres") \
            .startswith("allow:")
        odd = str(ipaddress.IPv4Address(0x0A000000 + 2 * 99_999 + 1))
        assert allowlist.check_connection(conn, odd, fresh.role, "postgres").startswith("deny:")
    assert fresh.attempt("127.0.0.2") is None
    assert fresh.attempt("127.0.0.3") is not None


def test_decision_comes_before_an_earlier_hook(private_cluster: ClusterFactory) -> None:
    """auth_delay, loaded before pgwarden, delays failed logins; a refused address never waits."""
    c = private_cluster(hba=SCRATCH_HBA, conf=["shared_preload_libraries = 'auth_delay,pgwarden'",
                                       "auth_delay.milliseconds = 1500"])
    with c.connect() as conn:
        conn.execute("CREATE EXTENSION pgwarden")
        pw = conn.execute("SELECT pgwarden.generate_password()").fetchone()[0]  # type: ignore[index]
        conn.execute(sql.SQL("CREATE ROLE regress_delay LOGIN PASSWORD {}").format(
            sql.Literal(pw)))
        allowlist.add(conn, ["127.0.0.2"])
        allowlist.wait_published(conn)
    wrong = pw[:-1] + ("x" if pw[-1] != "x" else "y")

    def timed(source: str, password: str) -> tuple[str | None, float]:
        with Proxy(c.port, source) as p:
            start = time.monotonic()
            msg = refusal(tcp_dsn(c, "regress_delay", password, port=p.port))
            return msg, time.monotonic() - start

    msg, took = timed("127.0.0.2", wrong)  # allowed address: the earlier hook runs
    assert msg is not None and "password authentication failed" in msg and took >= 1.4
    for password in (pw, wrong):  # refused address: decided first, no delay
        msg, took = timed("127.0.0.3", password)
        assert msg is not None and "address not allowed" in msg
        assert took < 1.0
