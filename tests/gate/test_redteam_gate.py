"""Red-team findings on the connection gate, pinned by tests.

A cluster of this module's own, with pg_hba.conf lines for replication,
md5, password, reject and hostnossl, so every path into authentication is
exercised from allowed and refused loopback addresses.
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from pgwarden import allowlist
from support.clusters import ClusterFactory
from support.proxy import Proxy

DB = "regress_ctl"
BRANCH_DB = "regress_shop"
HBA = [
    "local all all trust",
    "local replication all trust",
    "host replication all 127.0.0.0/8 scram-sha-256",
    "hostnossl all regress_nossl 127.0.0.0/8 trust",
    "host all regress_md5 127.0.0.0/8 md5",
    "host all regress_cleartext 127.0.0.0/8 password",
    "host all regress_rejected 127.0.0.0/8 reject",
    "host all all 127.0.0.0/8 scram-sha-256",
    "host all all ::1/128 scram-sha-256",
]
ROLES = ["regress_app", "regress_repl", "regress_nossl", "regress_md5", "regress_cleartext",
         "regress_rejected"]


class Red:
    def __init__(self, clusters: ClusterFactory) -> None:
        self.cluster = clusters(hba=HBA, conf=["log_min_messages = 'info'", "wal_level = logical",
                                               "max_wal_senders = 10"])
        self.password = ""

    def setup(self) -> None:
        with self.cluster.connect() as conn:
            for db in (DB, BRANCH_DB):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        with self.admin() as conn:
            conn.execute("CREATE EXTENSION pgwarden")
            self.password = conn.execute("SELECT pgwarden.generate_password()").fetchone()[0]  # type: ignore[index]
            for role in ROLES:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} {}").format(
                    sql.Identifier(role), sql.Literal(self.password),
                    sql.SQL("REPLICATION" if role == "regress_repl" else "")))
            allowlist.wait_published(conn)

    def admin(self) -> psycopg.Connection[Any]:
        return self.cluster.connect(DB)

    def attempt(self, source: str, role: str = "regress_app", *, dbname: str = "postgres",
                sslmode: str = "verify-full", **extra: Any) -> str | None:
        """None when admitted (authentication succeeded), else the server's message."""
        with Proxy(self.cluster.port, source) as p:
            dsn = psycopg.conninfo.make_conninfo(
                host="127.0.0.1", port=p.port, dbname=dbname, user=role,
                password=self.password, sslmode=sslmode, sslrootcert=str(self.cluster.ca_cert),
                connect_timeout=10, **extra)
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                return None
            except psycopg.OperationalError as exc:
                return str(exc).split("FATAL:", 1)[-1].strip()
            except psycopg.errors.FeatureNotSupported:
                # a physical walsender admitted us, then refused the SQL query
                return None

    def pid_of(self, backend_type: str) -> int:
        with self.cluster.connect() as conn:
            row = conn.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = %s",
                               [backend_type]).fetchone()
        assert row is not None, f"no {backend_type} running"
        return int(row[0])


@pytest.fixture(scope="module")
def red(module_cluster: ClusterFactory) -> Red:
    r = Red(module_cluster)
    r.setup()
    return r


@pytest.fixture
def only_127_0_0_2(red: Red) -> Iterator[Red]:
    with red.admin() as conn:
        allowlist.reset(conn, force=True)
        allowlist.set_protected_only(conn, False)
        allowlist.add(conn, ["127.0.0.2"])
        allowlist.wait_published(conn)
    yield red
    with red.admin() as conn:
        allowlist.reset(conn, force=True)
        allowlist.set_protected_only(conn, False)
        allowlist.wait_published(conn)


def refused_by_gate(msg: str | None) -> bool:
    return msg is not None and "pgwarden: connection refused: " in msg


# ---------------------------------------------------------------- replication connections
def test_physical_replication_goes_through_the_gate(only_127_0_0_2: Red) -> None:
    red = only_127_0_0_2
    assert red.attempt("127.0.0.2", "regress_repl", replication="true") is None
    msg = red.attempt("127.0.0.3", "regress_repl", replication="true")
    assert refused_by_gate(msg) and "address not allowed" in (msg or "")
    assert red.cluster.wait_for_log('Connection from 127.0.0.3 for role "regress_repl" and '
                                    'database "(replication)" refused (address_not_allowed)')


def test_logical_replication_goes_through_the_gate(only_127_0_0_2: Red) -> None:
    red = only_127_0_0_2
    assert refused_by_gate(red.attempt("127.0.0.3", "regress_repl", dbname=BRANCH_DB,
                                       replication="database"))


def test_physical_replication_is_gated_in_protected_only_mode(only_127_0_0_2: Red) -> None:
    """A physical walsender streams every database, protected branches included."""
    red = only_127_0_0_2
    with red.admin() as conn:
        conn.execute("SELECT pgwarden.register_branch(%s)", [BRANCH_DB])
        conn.execute("SELECT pgwarden.protect_branch(%s)", [BRANCH_DB])
        allowlist.set_protected_only(conn, True)
        allowlist.wait_published(conn)
        verdict = allowlist.check_connection(conn, "127.0.0.3", "regress_repl",
                                             None)  # type: ignore[arg-type]
        assert verdict.startswith("deny: ")
    try:
        # unprotected databases stay open to every address, by design
        assert red.attempt("127.0.0.3", dbname="postgres") is None
        assert refused_by_gate(red.attempt("127.0.0.3", dbname=BRANCH_DB))
        assert refused_by_gate(red.attempt("127.0.0.3", "regress_repl", replication="true"))
        assert red.attempt("127.0.0.2", "regress_repl", replication="true") is None
    finally:
        with red.admin() as conn:
            conn.execute("SELECT pgwarden.unprotect_branch(%s)", [BRANCH_DB])
            allowlist.wait_published(conn)
    # with nothing protected, protected-only mode restricts nobody
    assert red.attempt("127.0.0.3", "regress_repl", replication="true") is None


# ---------------------------------------------------------------- every auth method
def startup_over_tls(red: Red, source: str, user: str) -> list[tuple[bytes, bytes]]:
    """Raw: TLS, StartupMessage, then every message until an error or a request."""
    out: list[tuple[bytes, bytes]] = []
    with Proxy(red.cluster.port, source) as p:
        raw = socket.create_connection(("127.0.0.1", p.port), timeout=10)
        raw.sendall(struct.pack("!II", 8, 80877103))
        assert raw.recv(1) == b"S"
        ctx = ssl.create_default_context(cafile=str(red.cluster.ca_cert))
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            params = b"user\0" + user.encode() + b"\0database\0postgres\0\0"
            s.sendall(struct.pack("!II", len(params) + 8, 196608) + params)
            buf = b""
            while True:
                while len(buf) < 5 or len(buf) < 1 + struct.unpack("!I", buf[1:5])[0]:
                    chunk = s.recv(65536)
                    if not chunk:
                        return out
                    buf += chunk
                n = 1 + struct.unpack("!I", buf[1:5])[0]
                out.append((buf[:1], buf[5:n]))
                buf = buf[n:]
                if out[-1][0] in (b"E", b"R"):
                    return out


@pytest.mark.parametrize("role", ["regress_md5", "regress_cleartext", "regress_app"])
def test_refused_address_is_never_asked_for_a_password(only_127_0_0_2: Red, role: str) -> None:
    red = only_127_0_0_2
    allowed = startup_over_tls(red, "127.0.0.2", role)
    assert allowed and allowed[0][0] == b"R"        # asked: MD5, cleartext or SASL
    refused = startup_over_tls(red, "127.0.0.3", role)
    assert [t for t, _ in refused] == [b"E"]
    assert b"pgwarden: connection refused: address not allowed" in refused[0][1]


def test_hostnossl_trust_line_still_needs_tls(only_127_0_0_2: Red) -> None:
    msg = only_127_0_0_2.attempt("127.0.0.2", "regress_nossl", sslmode="disable")
    assert refused_by_gate(msg) and "TLS required" in (msg or "")


def test_reject_line_and_unknown_database_reveal_nothing(only_127_0_0_2: Red) -> None:
    red = only_127_0_0_2
    assert "pg_hba.conf rejects connection" in (red.attempt("127.0.0.3", "regress_rejected") or "")
    # the gate answers before PostgreSQL looks the database up
    assert refused_by_gate(red.attempt("127.0.0.3", dbname="regress_no_such_db"))


# ---------------------------------------------------------------- transactions
def test_rolled_back_changes_never_reach_the_gate(only_127_0_0_2: Red) -> None:
    red = only_127_0_0_2
    with red.admin() as conn:
        with pytest.raises(errors.RaiseException), conn.transaction():
            allowlist.reset(conn, force=True)
            conn.execute("DO $$BEGIN RAISE EXCEPTION 'abort'; END$$")
        with conn.transaction():
            with pytest.raises(psycopg.Error), conn.transaction():   # a savepoint
                allowlist.add(conn, ["127.0.0.3"])
                conn.execute("SELECT 1/0")
            allowlist.add(conn, ["127.0.0.4"])
        allowlist.wait_published(conn)
    time.sleep(0.3)
    assert refused_by_gate(red.attempt("127.0.0.3"))
    assert red.attempt("127.0.0.4") is None


# ---------------------------------------------------------------- workers dying
def test_loader_terminated_is_restarted_and_policy_kept(only_127_0_0_2: Red) -> None:
    red = only_127_0_0_2
    pid = red.pid_of("pgwarden policy loader")
    red.cluster.run("kill", "-TERM", str(pid))
    # meanwhile the last snapshot stays in force
    assert refused_by_gate(red.attempt("127.0.0.3"))
    deadline = time.monotonic() + 5
    while True:
        try:
            if red.pid_of("pgwarden policy loader") != pid:
                break
        except AssertionError:
            pass
        assert time.monotonic() < deadline, "the loader was not restarted"
        time.sleep(0.1)
    with red.admin() as conn:
        allowlist.add(conn, ["127.0.0.3"])
        allowlist.wait_published(conn)
    assert red.attempt("127.0.0.3") is None


@pytest.mark.parametrize("worker", ["pgwarden policy loader", "pgwarden policy launcher"])
def test_worker_killed_never_opens_the_gate(only_127_0_0_2: Red, worker: str) -> None:
    red = only_127_0_0_2
    pid = red.pid_of(worker)
    red.cluster.run("kill", "-KILL", str(pid))
    # crash restart: shared memory is rebuilt, the policy reloaded; never open meanwhile
    deadline = time.monotonic() + 15
    while True:
        msg = red.attempt("127.0.0.3")
        assert msg is not None, "a refused address got in while the policy was reloading"
        if refused_by_gate(msg) and "address not allowed" in msg:
            break
        assert time.monotonic() < deadline, msg
        time.sleep(0.2)
    assert red.attempt("127.0.0.2") is None


def test_sighup_keeps_the_policy(only_127_0_0_2: Red) -> None:
    red = only_127_0_0_2
    red.cluster.reload()
    time.sleep(0.3)
    assert refused_by_gate(red.attempt("127.0.0.3"))
    assert red.attempt("127.0.0.2") is None


# ---------------------------------------------------------------- entry parsing
@pytest.mark.parametrize("entry,normal", [
    ("::ffff:0:0/96", "0.0.0.0/0"),
    ("0.0.0.0/0", "0.0.0.0/0"),
    ("::/0", "::/0"),
    ("::ffff:127.0.0.2", "127.0.0.2"),
    ("::ffff:127.0.0.0-::ffff:127.0.0.9", "127.0.0.0-127.0.0.9"),
    ("127.0.0.2/032", "127.0.0.2"),
    (" 127.0.0.2 / 32 ", "127.0.0.2"),
])
def test_entries_normalise(red: Red, entry: str, normal: str) -> None:
    with red.admin() as conn:
        row = conn.execute("SELECT entry FROM pgwarden._ip_allow_parse(ARRAY[%s])",
                           [entry]).fetchone()
    assert row == (normal,)


@pytest.mark.parametrize("entry", [
    "010.0.0.1", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.4/33", "::/129", "1.2.3.4/-1",
    "1.2.3.4/", "/8", "-", "1.2.3.4-", "-1.2.3.4", "1.2.3.4--1.2.3.5", "1.2.3.4/8/8",
    "fe80::1%eth0", "0x7f.0.0.1", "127.1", "localhost", "1.2.3.4-::1", "::1/0001",
    "1" * 300, "1.2.3.4/" + "0" * 200 + "8", "\u0661.2.3.4", "１.2.3.4",
])
def test_bad_entries_refused_cleanly(red: Red, entry: str) -> None:
    with red.admin() as conn, pytest.raises(errors.InvalidParameterValue):
        conn.execute("SELECT * FROM pgwarden._ip_allow_parse(ARRAY[%s])", [entry])


def test_whole_address_space_entries_admit(only_127_0_0_2: Red) -> None:
    red = only_127_0_0_2
    with red.admin() as conn:
        allowlist.add(conn, ["::ffff:0:0/96"])
        allowlist.wait_published(conn)
    assert red.attempt("127.0.0.3") is None
    with red.admin() as conn:
        allowlist.remove(conn, ["0.0.0.0/0"], force=True)
        allowlist.add(conn, ["::/0"])
        allowlist.wait_published(conn)
    # ::/0 covers IPv6 only: the IPv4 client stays refused
    assert refused_by_gate(red.attempt("127.0.0.3"))


def test_server_never_crashed(red: Red) -> None:
    log = red.cluster.read_log()
    for bad in ("was terminated by signal 11", "was terminated by signal 6", "TRAP:",
                "PANIC:", "stuck spinlock"):
        assert bad not in log, bad
    # the only crash restarts are the ones the kill -9 tests caused
    assert log.count("terminating any other active server processes") <= 2


# ---------------------------------------------------------------- the control database dropped
def test_dropping_the_control_database_does_not_open_the_gate(
        private_cluster: ClusterFactory) -> None:
    """A control database gone while a branch is protected used to leave no
    policy at all: every address got in.  DROP DATABASE of it is refused now,
    so a superuser has to remove its mark from the catalog first."""
    red = Red(private_cluster)
    red.setup()
    with red.admin() as conn:
        conn.execute("SELECT pgwarden.register_branch(%s)", [BRANCH_DB])
        conn.execute("SELECT pgwarden.protect_branch(%s)", [BRANCH_DB])
        allowlist.add(conn, ["127.0.0.2"])
        allowlist.wait_published(conn)
    assert refused_by_gate(red.attempt("127.0.0.3", dbname=BRANCH_DB))
    with red.cluster.connect() as conn:
        with pytest.raises(psycopg.Error) as exc_info:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(DB)))
        assert exc_info.value.diag.sqlstate == "PW001"
        conn.execute("DELETE FROM pg_catalog.pg_shseclabel WHERE provider = 'pgwarden_control'")
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(DB)))
    assert red.cluster.wait_for_log("is still marked as protected", timeout=5)
    for source in ("127.0.0.3", "127.0.0.2"):
        msg = red.attempt(source, dbname=BRANCH_DB)
        assert refused_by_gate(msg) and "policy unavailable" in (msg or "")
    # local administration still works, and removing the stale labels reopens
    with red.cluster.connect() as conn:
        conn.execute("DELETE FROM pg_catalog.pg_shseclabel WHERE provider = 'pgwarden'")
    deadline = time.monotonic() + 5
    while red.attempt("127.0.0.3", dbname=BRANCH_DB) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_admin_member_can_wait_for_publication(red: Red) -> None:
    """pgwarden_admin members manage the allowlist; waiting for it must work too."""
    with red.admin() as conn:
        conn.execute(sql.SQL("CREATE ROLE regress_rt_member LOGIN IN ROLE pgwarden_admin"))
    try:
        with psycopg.connect(red.cluster.local_dsn(DB, "regress_rt_member"),
                             autocommit=True) as conn:
            allowlist.add(conn, ["127.0.0.9"])
            assert allowlist.wait_published(conn).state == "loaded"
            allowlist.reset(conn, force=True)
    finally:
        with red.admin() as conn:
            conn.execute("DROP ROLE regress_rt_member")


@pytest.mark.parametrize("entry", ["a" + "é" * 60, "ab" + "€" * 40, "é" * 127])
def test_long_non_ascii_entry_is_named_without_broken_characters(red: Red, entry: str) -> None:
    with red.admin() as conn, pytest.raises(errors.InvalidParameterValue) as exc:
        conn.execute("SELECT * FROM pgwarden._ip_allow_parse(ARRAY[%s])", [entry])
    message = exc.value.diag.message_primary or ""
    assert "\ufffd" not in message and message.endswith('"')
    assert "\ufffd" not in (exc.value.diag.message_detail or "")


def test_concurrent_changes_all_reach_the_gate(only_127_0_0_2: Red) -> None:
    import threading

    red = only_127_0_0_2
    errors_seen: list[BaseException] = []

    def add(i: int) -> None:
        try:
            with red.admin() as conn:
                for j in range(5):
                    allowlist.add(conn, [f"10.{i}.{j}.0/24"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors_seen.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    with red.admin() as conn:
        allowlist.add(conn, ["127.0.0.5"])
    for t in threads:
        t.join()
    assert not errors_seen
    with red.admin() as conn:
        allowlist.wait_published(conn)
        assert len(allowlist.list_entries(conn)) == 1 + 1 + 8 * 5
        assert allowlist.check_connection(conn, "10.7.4.9", "regress_app", "postgres") \
            .startswith("allow")
    assert red.attempt("127.0.0.5") is None
    assert refused_by_gate(red.attempt("127.0.0.3"))
