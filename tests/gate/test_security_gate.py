"""Attacks on the connection gate and on read-only endpoints (issue 8, items 2, 5, 6).

A cluster of this module's own, with a small ``pgwarden.policy_memory`` so the
snapshot can be outgrown quickly, logical WAL, prepared transactions and
autovacuum off (the transaction-ID checks below must see only our own work):

* a ``pgwarden_admin`` member tries to make the policy unreadable by
  outgrowing the snapshot, in every shape of transaction; and while the
  policy is unreadable for any reason, no rule may stop applying on any
  transport;
* a session on a read-only endpoint calls every function the server's
  catalog lists as writing, as a plain role and as a superuser, directly and
  through wrappers, and tries the statements PostgreSQL allows in read-only
  transactions;
* an unauthenticated client at an allowed and at a refused address sends a
  startup packet and no password, and must learn only a short reason.
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from pgwarden import allowlist
from pgwarden.branches import Credential, Project
from support import ROOT, readonly_functions
from support.clusters import ClusterFactory
from support.helpers import assert_not_in, gate_detail
from support.proxy import Proxy

CTL = "regress_ctl"
SHOP = "regress_shop"          # protected, owned by regress_app
DEV = "regress_dev"            # child of SHOP: its roles are branch roles
SPARE = "regress_spare"        # unprotected, for endpoints that come and go
RO = "regress_shop_ro"         # read-only endpoint of SHOP
OFF = "regress_shop_off"       # suspended endpoint of SHOP
ONE = "regress_shop_one"       # endpoint of SHOP with max_connections 1
HBA = [
    "local all all trust",
    "local replication all trust",
    "host all all 127.0.0.0/8 scram-sha-256",
    "host replication all 127.0.0.0/8 scram-sha-256",
    "host all all ::1/128 scram-sha-256",
]
MEMORY_KB = 128
CLIENT_REASONS = ("address not allowed", "TLS required", "endpoint unavailable",
                  "policy unavailable")


class Sec:
    def __init__(self, clusters: ClusterFactory) -> None:
        self.cluster = clusters(hba=HBA, conf=[
            "log_min_messages = 'info'", "wal_level = logical", "max_replication_slots = 8",
            "max_wal_senders = 8", "max_prepared_transactions = 4", "autovacuum = off",
            f"pgwarden.policy_memory = {MEMORY_KB}"], control_db=CTL)
        self.password = ""
        self.cred: Credential | None = None

    def setup(self) -> None:
        c = self.cluster
        with self.ctl() as conn:
            self.password = conn.execute("SELECT pgwarden.generate_password()").fetchone()[0]  # type: ignore[index]
            for role, extra in (("regress_app", ""), ("regress_ro_user", ""),
                                ("regress_warden", "IN ROLE pgwarden_admin")):
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} " + extra).format(
                    sql.Identifier(role), sql.Literal(self.password)))
            for db in (SHOP, SPARE):
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER regress_app").format(
                    sql.Identifier(db)))
        with c.connect(SHOP) as conn:
            conn.execute("SET ROLE regress_app")
            conn.execute("CREATE TABLE items (id int PRIMARY KEY, v text, doc tsvector)")
            conn.execute("INSERT INTO items SELECT g, md5(g::text), to_tsvector(md5(g::text))"
                         " FROM generate_series(1, 100) g")
            conn.execute("CREATE INDEX regress_brin ON items USING brin (id)")
            conn.execute("CREATE INDEX regress_gin ON items USING gin (doc)"
                         " WITH (fastupdate = on)")
            conn.execute("CREATE SEQUENCE regress_seq")
            conn.execute("ANALYZE items")  # statistics for the import attacks to change
            conn.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO regress_ro_user")
            conn.execute("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO regress_ro_user")
        project = self.project()
        with self.ctl() as conn:
            for db in (SHOP, SPARE):
                conn.execute("SELECT pgwarden.register_branch(%s)", [db])
            conn.execute("SELECT pgwarden.protect_branch(%s)", [SHOP])
            conn.execute("SELECT pgwarden.create_endpoint(%s, %s, 'read_only')", [SHOP, RO])
            conn.execute("SELECT pgwarden.create_endpoint(%s, %s)", [SHOP, OFF])
            conn.execute("SELECT pgwarden.suspend_endpoint(%s)", [OFF])
            conn.execute("SELECT pgwarden.create_endpoint(%s, %s, 'read_write', 1)", [SHOP, ONE])
        creds = project.create_branch(DEV, SHOP, strategy="template").credentials
        (self.cred,) = [c for c in creds if c.parent_role == "regress_app"]
        # the plain role may execute every refused built-in: no privilege check
        # may be what stops it, only the read-only endpoint
        with self.ctl() as conn:
            refused = [r[0] for r in conn.execute(
                "SELECT function::text FROM pgwarden.readonly_refusals()"
                " WHERE function::text NOT LIKE 'pgwarden.%'")]
        with c.connect(SHOP) as conn:
            for fn in refused:
                conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO regress_ro_user").format(
                    sql.SQL(fn)))
        with self.ctl() as conn:
            allowlist.wait_published(conn)

    def ctl(self) -> psycopg.Connection[Any]:
        return self.cluster.connect(CTL)

    def project(self) -> Project:
        return Project(self.cluster.local_dsn(CTL))

    def mark_log(self) -> None:
        self.cluster.test_log_start = len(self.cluster.read_log())

    def local(self, dbname: str, *, user: str = "postgres", endpoint: str | None = None,
              **kw: Any) -> psycopg.Connection[Any]:
        """A connection over the Unix socket (trust), through an endpoint if given."""
        if endpoint is not None:
            kw["options"] = f"-c pgwarden.endpoint={endpoint}"
        return psycopg.connect(self.cluster.local_dsn(dbname, user=user), autocommit=True, **kw)

    def tcp(self, dbname: str, user: str = "regress_app", *, password: str | None = None,
            endpoint: str | None = None) -> str | None:
        """None when a TLS connection from 127.0.0.1 is admitted, else the server's message."""
        extra: dict[str, Any] = {}
        if endpoint is not None:
            extra["options"] = f"-c pgwarden.endpoint={endpoint}"
        dsn = self.cluster.tcp_dsn(user, password or self.password, dbname=dbname, **extra)
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return None
        except psycopg.OperationalError as exc:
            return str(exc).split("FATAL:", 1)[-1].strip()


@pytest.fixture(scope="module")
def sec(module_cluster: ClusterFactory) -> Sec:
    s = Sec(module_cluster)
    s.setup()
    return s


@pytest.fixture
def spare(sec: Sec) -> Iterator[Sec]:
    """The cluster; every endpoint of SPARE but its default one is dropped afterwards."""
    sec.mark_log()
    yield sec
    with sec.ctl() as conn:
        conn.execute("SELECT pgwarden.drop_endpoint(name) FROM pgwarden.endpoint"
                     " WHERE branch = %s AND NOT is_default", [SPARE])
        allowlist.reset(conn, force=True)
        allowlist.wait_published(conn)


def endpoint_count(sec: Sec) -> int:
    with sec.ctl() as conn:
        return int(conn.execute("SELECT count(*) FROM pgwarden.endpoint").fetchone()[0])  # type: ignore[index]


def assert_policy_loaded(sec: Sec) -> None:
    __tracebackhide__ = True
    with sec.ctl() as conn:
        status = allowlist.wait_published(conn)
    assert status.state == "loaded", status.detail
    assert sec.tcp(SHOP) is None  # the gate still admits what it should


# =========================================================== item 2: capacity
ATTACK = ("SELECT count(pgwarden.create_endpoint(%s, 'regress_f' || g, 'read_write'))"
          " FROM generate_series(1, 1000) g")


def run_capacity_attack(conn: psycopg.Connection[Any], shape: str) -> None:
    """Outgrow the snapshot in one transaction of the given shape; raises at the end."""
    if shape == "one statement":
        conn.execute(ATTACK, [SPARE])
    elif shape == "many statements, savepoints, immediate constraints":
        with conn.transaction():
            conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for i in range(10):
                with conn.transaction():  # a savepoint each
                    conn.execute(
                        "SELECT count(pgwarden.create_endpoint(%s, 'regress_f' || %s || '_' || g))"
                        " FROM generate_series(1, 100) g", [SPARE, i])
    elif shape == "prepared transaction":
        conn.execute("BEGIN")
        try:
            conn.execute(ATTACK, [SPARE])
            conn.execute("PREPARE TRANSACTION 'regress_capacity'")
        finally:
            conn.execute("ROLLBACK")
    elif shape == "allowlist":
        conn.execute("SELECT pgwarden.ip_allow_add(array_agg('10.' || (g / 256) || '.' ||"
                     " (g % 256) || '.1')) FROM generate_series(1, 20000) g")
    elif shape == "endpoints and allowlist, each fitting alone":
        with conn.transaction():
            conn.execute("SELECT count(pgwarden.create_endpoint(%s, 'regress_f' || g))"
                         " FROM generate_series(1, 400) g", [SPARE])
            conn.execute("SELECT pgwarden.ip_allow_add(array_agg('10.' || (g / 256) || '.' ||"
                         " (g % 256) || '.1')) FROM generate_series(1, 7000) g")
    else:
        raise AssertionError(shape)


@pytest.mark.parametrize("shape", [
    "one statement",
    "many statements, savepoints, immediate constraints",
    "prepared transaction",
    "allowlist",
    "endpoints and allowlist, each fitting alone",
])
def test_admin_member_cannot_outgrow_the_policy(spare: Sec, shape: str) -> None:
    """The issue's attack (create_endpoint x N as a pgwarden_admin member), scaled to
    the module's 128 kB: refused before commit with 54000, nothing changed, the
    gate keeps its policy."""
    sec = spare
    before = endpoint_count(sec)
    with sec.ctl() as conn:
        version = conn.execute("SELECT version FROM pgwarden.policy_version").fetchone()
    with sec.local(CTL, user="regress_warden") as conn, \
            pytest.raises(errors.ProgramLimitExceeded) as info:
        run_capacity_attack(conn, shape)
    d = info.value.diag
    assert d.sqlstate == "54000"
    assert "pgwarden.policy_memory" in (d.message_primary or "") + (d.message_hint or "")
    assert f"pgwarden.policy_memory is {MEMORY_KB} kB" in (d.message_detail or "")
    assert endpoint_count(sec) == before
    with sec.ctl() as conn:
        assert conn.execute("SELECT version FROM pgwarden.policy_version").fetchone() == version
        assert allowlist.list_entries(conn) == []
        assert conn.execute("SELECT count(*) FROM pg_prepared_xacts").fetchone() == (0,)
    assert_policy_loaded(sec)


def test_small_steps_stop_at_the_limit(spare: Sec) -> None:
    """Committed one small step at a time, the change that would not fit is the one
    refused; every step before it is in force."""
    sec = spare
    added = 0
    with sec.local(CTL, user="regress_warden") as conn:
        for step in range(100):
            try:
                conn.execute("SELECT count(pgwarden.create_endpoint(%s, 'regress_step' || %s || '_'"
                             " || g)) FROM generate_series(1, 20) g", [SPARE, step])
            except errors.ProgramLimitExceeded:
                break
            added += 20
        else:
            raise AssertionError("2,000 endpoints fitted in 128 kB")
    assert added > 100
    with sec.ctl() as conn:
        status = allowlist.wait_published(conn)
        assert status.state == "loaded" and status.memory_used <= MEMORY_KB * 1024
        assert conn.execute("SELECT count(*) FROM pgwarden.endpoint"
                            " WHERE name LIKE 'regress\\_step%%'").fetchone() == (added,)
    with sec.local(SPARE, user="regress_app", endpoint="regress_step0_1") as conn:
        assert conn.execute("SHOW pgwarden.endpoint").fetchone() == ("regress_step0_1",)


def test_concurrent_changes_cannot_add_up(spare: Sec) -> None:
    """Two admins each add what fits alone; the second to commit is refused."""
    sec = spare
    before = endpoint_count(sec)
    outcome: list[BaseException | None] = []
    started = threading.Event()

    def second() -> None:
        try:
            with sec.local(CTL, user="regress_warden") as conn, conn.transaction():
                started.set()
                conn.execute("SELECT count(pgwarden.create_endpoint(%s, 'regress_b' || g))"
                             " FROM generate_series(1, 400) g", [SPARE])
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    with sec.local(CTL, user="regress_warden") as first, first.transaction():
        first.execute("SELECT count(pgwarden.create_endpoint(%s, 'regress_a' || g))"
                      " FROM generate_series(1, 400) g", [SPARE])
        t = threading.Thread(target=second)
        t.start()
        started.wait(10)
        time.sleep(0.5)          # the second now waits for our commit
        assert t.is_alive()
    t.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], errors.ProgramLimitExceeded), outcome
    assert endpoint_count(sec) == before + 400
    assert_policy_loaded(sec)


def test_superuser_sql_cannot_commit_an_unloadable_policy(spare: Sec) -> None:
    """The check is on the tables, not on the functions: direct DML is refused too,
    and so is a row a loader would reject."""
    sec = spare
    with sec.ctl() as conn:
        with pytest.raises(errors.ProgramLimitExceeded):
            conn.execute("INSERT INTO pgwarden.endpoint (name, branch)"
                         " SELECT 'regress_d' || g, %s FROM generate_series(1, 1000) g", [SPARE])
        with pytest.raises(errors.DataCorrupted):
            conn.execute("INSERT INTO pgwarden.ip_allow_entries"
                         " (entry, kind, first_address, last_address)"
                         " VALUES ('not an address', 'address', '10.0.0.1', '10.0.0.1')")
        assert allowlist.list_entries(conn) == []
    assert_policy_loaded(sec)


@pytest.mark.slow
def test_the_issues_attack_at_the_default_size(private_cluster: ClusterFactory) -> None:
    """42,000 endpoints as a pgwarden_admin member at the default 8 MB (about 40 s)."""
    c = private_cluster(hba=HBA)
    with c.connect() as conn:
        conn.execute("CREATE DATABASE dev")
        conn.execute("CREATE EXTENSION pgwarden")
        conn.execute("SELECT pgwarden.register_branch('dev')")
        conn.execute("CREATE ROLE regress_warden LOGIN IN ROLE pgwarden_admin")
    with psycopg.connect(c.local_dsn(user="regress_warden"), autocommit=True) as conn, \
            pytest.raises(errors.ProgramLimitExceeded):
        conn.execute("SELECT count(pgwarden.create_endpoint('dev','f'||g,'read_write'))"
                     " FROM generate_series(1,42000) g")
    with c.connect() as conn:
        assert allowlist.wait_published(conn).state == "loaded"
        assert conn.execute("SELECT count(*) FROM pgwarden.endpoint").fetchone() == (1,)


# =========================================================== item 2: fail closed
def damage(sec: Sec, how: str) -> None:
    c = sec.cluster
    if how == "over capacity":
        # fill most of the 128 kB, then restart with half of it: the snapshot no
        # longer fits (only a setting the server's owner controls can do this)
        with sec.ctl() as conn:
            conn.execute("SELECT count(pgwarden.create_endpoint(%s, 'regress_fill' || g))"
                         " FROM generate_series(1, 400) g", [SPARE])
        c.append_conf(["pgwarden.policy_memory = 64"])
    else:  # not loaded: no background worker slot for the loader
        c.append_conf(["max_worker_processes = 1", "max_logical_replication_workers = 0",
                       "pgwarden.policy_load_timeout = 200"])
    c.restart()
    sec.mark_log()


def repair(sec: Sec, how: str) -> None:
    c = sec.cluster
    if how == "over capacity":
        c.append_conf([f"pgwarden.policy_memory = {MEMORY_KB}"])
    else:
        c.append_conf(["max_worker_processes = 8", "max_logical_replication_workers = 4",
                       "pgwarden.policy_load_timeout = 2000"])
    c.restart()
    with sec.ctl() as conn:
        allowlist.wait_published(conn, timeout=10)
        conn.execute("SELECT pgwarden.drop_endpoint(name) FROM pgwarden.endpoint"
                     " WHERE name LIKE 'regress_fill%%'")
        allowlist.wait_published(conn)


def local_refusal(sec: Sec, dbname: str, user: str, endpoint: str | None = None) -> str | None:
    try:
        with sec.local(dbname, user=user, endpoint=endpoint) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.OperationalError as exc:
        return str(exc).split("FATAL:", 1)[-1].strip()


@pytest.mark.parametrize("how", ["over capacity", "not loaded"])
def test_unreadable_policy_fails_closed_on_every_transport(sec: Sec, how: str) -> None:
    """No rule stops applying while the policy cannot be read: TCP is refused for
    everyone, and over the Unix socket only a superuser without an endpoint gets in."""
    assert sec.cred is not None
    damage(sec, how)
    try:
        with sec.cluster.connect(CTL) as conn:  # superuser, Unix socket: the repair path
            status = allowlist.policy_status(conn)
            assert status.state == ("damaged" if how == "over capacity" else "not loaded")
        assert sec.cluster.wait_for_log("admitted over a Unix socket although the connection "
                                        "policy cannot be enforced")
        refusals = {
            "TCP, owner": sec.tcp(SHOP),
            "TCP, branch role at home": sec.tcp(DEV, sec.cred.role, password=sec.cred.password),
            "Unix, owner": local_refusal(sec, SHOP, "regress_app"),
            "Unix, admin member": local_refusal(sec, CTL, "regress_warden"),
            "Unix, branch role to the parent": local_refusal(sec, SHOP, sec.cred.role),
            "Unix, read-only endpoint": local_refusal(sec, SHOP, "regress_app", RO),
            "Unix, suspended endpoint": local_refusal(sec, SHOP, "regress_app", OFF),
            "Unix, superuser through the read-only endpoint": local_refusal(
                sec, SHOP, "postgres", RO),
            "Unix, superuser through the suspended endpoint": local_refusal(
                sec, SHOP, "postgres", OFF),
        }
        got_in = [k for k, v in refusals.items() if v is None]
        assert not got_in, got_in
        for what, msg in refusals.items():
            assert msg is not None and "pgwarden: connection refused: policy unavailable" in msg, what
        verdict = "(policy_damaged)" if how == "over capacity" else "(policy_not_loaded)"
        gate_detail(sec.cluster, f'for role "{sec.cred.role}" and database "{SHOP}" refused {verdict}',
                    "only superusers are admitted, over a Unix socket")
        # the superuser's TCP connection is refused too (asked before any password)
        transcript = startup(sec, user="postgres", database=CTL, source="127.0.0.1")
        assert error_message(transcript) == "pgwarden: connection refused: policy unavailable"
        # what the admin sees when repairing
        with sec.cluster.connect(CTL) as conn:
            assert allowlist.check_connection(conn, None, "regress_app", SHOP).startswith("deny:")
            assert allowlist.check_connection(conn, None, "postgres", SHOP).startswith("allow:")
            assert allowlist.check_connection(conn, "127.0.0.1", "postgres", SHOP).startswith("deny:")
    finally:
        repair(sec, how)
    assert_policy_loaded(sec)
    assert local_refusal(sec, SHOP, "regress_app", RO) is None


def test_extension_gone_while_a_branch_is_protected_fails_closed(
        private_cluster: ClusterFactory) -> None:
    """If pgwarden's catalog entry disappears while a branch is still labelled
    protected, the gate closes instead of opening (simulated here by a superuser
    editing pg_extension, the end state of any way around DROP EXTENSION)."""
    c = private_cluster(hba=HBA, conf=["log_min_messages = 'info'"])
    with c.connect() as conn:
        conn.execute("CREATE DATABASE regress_ctl")
        conn.execute("CREATE DATABASE regress_shop")
        pw = "pgw_" + "Zq8vLm3Kx7Rt2Yw9Np4B"
        conn.execute(sql.SQL("CREATE ROLE regress_app LOGIN PASSWORD {}").format(
            sql.Literal(pw)))
    with c.connect(CTL) as conn:
        conn.execute("CREATE EXTENSION pgwarden")
        conn.execute("SELECT pgwarden.register_branch('regress_shop')")
        conn.execute("SELECT pgwarden.protect_branch('regress_shop')")
        allowlist.wait_published(conn)
        conn.execute("DELETE FROM pg_catalog.pg_extension WHERE extname = 'pgwarden'")
    assert c.wait_for_log('pgwarden is no longer created in the control database, but branch '
                          '"regress_shop" is still marked as protected', timeout=5)
    dsn = c.tcp_dsn("regress_app", pw, dbname="regress_shop")
    with pytest.raises(psycopg.OperationalError, match="policy unavailable"):
        psycopg.connect(dsn).close()
    with pytest.raises(psycopg.OperationalError, match="policy unavailable"):
        psycopg.connect(c.local_dsn("regress_shop", user="regress_app")).close()
    with c.connect("regress_shop") as conn:  # the superuser repairs over the socket
        assert conn.execute("SELECT 1").fetchone() == (1,)


# =========================================================== item 6: what a refused client learns
def startup(sec: Sec, *, user: str, database: str, source: str = "127.0.0.2",
            tls: bool = True, options: str | None = None,
            unix: bool = False) -> list[tuple[bytes, bytes]]:
    """Send a startup packet and no password; return what the server sends up to
    its first authentication request or error."""
    c = sec.cluster
    params = b"user\0" + user.encode() + b"\0database\0" + database.encode() + b"\0"
    if options is not None:
        params += b"options\0" + options.encode() + b"\0"
    params += b"\0"
    proxy = None
    if unix:
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(str(Path(c.sockdir) / f".s.PGSQL.{c.port}"))
    else:
        port = c.port
        if source != "127.0.0.1":
            proxy = Proxy(c.port, source)
            port = proxy.port
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    out: list[tuple[bytes, bytes]] = []
    try:
        sock: socket.socket | ssl.SSLSocket = raw
        if tls and not unix:
            raw.sendall(struct.pack("!II", 8, 80877103))
            assert raw.recv(1) == b"S"
            sock = ssl.create_default_context(cafile=str(c.ca_cert)).wrap_socket(
                raw, server_hostname="127.0.0.1")
        sock.sendall(struct.pack("!II", len(params) + 8, 196608) + params)
        buf = b""
        while True:
            while len(buf) < 5 or len(buf) < 1 + struct.unpack("!I", buf[1:5])[0]:
                chunk = sock.recv(65536)
                if not chunk:
                    return out
                buf += chunk
            n = 1 + struct.unpack("!I", buf[1:5])[0]
            out.append((buf[:1], buf[5:n]))
            buf = buf[n:]
            if out[-1][0] in (b"E", b"R"):
                return out
    finally:
        raw.close()
        if proxy is not None:
            proxy.close()


def error_fields(transcript: list[tuple[bytes, bytes]]) -> dict[str, str]:
    for t, p in transcript:
        if t == b"E":
            return {chr(f[0]): f[1:].decode() for f in p.rstrip(b"\0").split(b"\0") if f}
    return {}


def error_message(transcript: list[tuple[bytes, bytes]]) -> str:
    return error_fields(transcript).get("M", "")


@pytest.fixture
def allowlisted(sec: Sec) -> Iterator[Sec]:
    """127.0.0.2 allowed for everyone; regress_app has three entries of its own."""
    sec.mark_log()
    with sec.ctl() as conn:
        allowlist.add(conn, ["127.0.0.2"])
        allowlist.add(conn, ["127.0.0.2", "10.0.0.0/8", "192.0.2.1"], role="regress_app")
        allowlist.wait_published(conn)
    yield sec
    with sec.ctl() as conn:
        allowlist.reset(conn, force=True)
        allowlist.wait_published(conn)


def refusal_cases(sec: Sec) -> dict[str, tuple[dict[str, Any], str, str, str]]:
    """case -> (startup arguments, client reason, verdict, a phrase of the logged detail)."""
    assert sec.cred is not None
    return {
        "refused address": ({"user": "regress_app", "database": SHOP, "source": "127.0.0.3"},
                            "address not allowed", "address_not_allowed",
                            "address 127.0.0.3 is not in the IP allowlist"),
        "no TLS": ({"user": "regress_app", "database": SHOP, "tls": False},
                   "TLS required", "tls_required", "this connection does not use it"),
        "branch role outside its branch": (
            {"user": sec.cred.role, "database": SHOP}, "endpoint unavailable", "branch_role",
            f'is a branch role of branch "{DEV}" and may connect to database "{DEV}" only'),
        "unknown endpoint": ({"user": "regress_app", "database": SHOP,
                                  "options": "-c pgwarden.endpoint=regress_nope"},
                             "endpoint unavailable", "endpoint_unknown",
                             'endpoint "regress_nope" does not exist'),
        "endpoint of another branch": ({"user": "regress_app", "database": SHOP,
                                            "options": f"-c pgwarden.endpoint={DEV}"},
                                       "endpoint unavailable", "endpoint_foreign",
                                       f'belongs to branch "{DEV}"'),
        "suspended endpoint": ({"user": "regress_app", "database": SHOP,
                                    "options": f"-c pgwarden.endpoint={OFF}"},
                               "endpoint unavailable", "endpoint_suspended",
                               f'endpoint "{OFF}" of branch "{SHOP}" is suspended'),
        "endpoint at its limit": ({"user": "regress_app", "database": SHOP,
                                       "options": f"-c pgwarden.endpoint={ONE}"},
                                  "endpoint unavailable", "endpoint_full",
                                  f'endpoint "{ONE}" of branch "{SHOP}" already has 1 connections'),
    }


CASES = ["refused address", "no TLS", "branch role outside its branch", "unknown endpoint",
         "endpoint of another branch", "suspended endpoint", "endpoint at its limit"]


@pytest.mark.parametrize("case", CASES)
def test_unauthenticated_client_learns_only_a_short_reason(allowlisted: Sec, case: str) -> None:
    sec = allowlisted
    kwargs, reason, verdict, phrase = refusal_cases(sec)[case]
    held = None
    if case == "endpoint at its limit":
        held = sec.local(SHOP, user="regress_app", endpoint=ONE)
    try:
        transcript = startup(sec, **kwargs)
    finally:
        if held is not None:
            held.close()
    assert [t for t, _ in transcript] == [b"E"]  # never asked for a password
    fields = error_fields(transcript)
    assert fields["M"] == f"pgwarden: connection refused: {reason}"
    assert fields["C"] == "28000"
    assert "D" not in fields
    # a fixed hint, for the TLS refusal only
    assert fields.get("H") == ("Connect with TLS, for example sslmode=verify-full."
                               if reason == "TLS required" else None)
    # no role, branch or database name, no count, in anything the client got
    raw = b"".join(p for _, p in transcript)
    for name in ("regress", SHOP, DEV, "regress_app", "pgwarden_admin"):
        assert name.encode() not in raw, name
    assert not re.search(r"\d", fields["M"] + fields.get("H", ""))
    # the server log has the facts
    detail = gate_detail(sec.cluster, f"refused ({verdict})", phrase)
    assert f'for role "{kwargs["user"]}" and database "{kwargs["database"]}"' in detail
    assert_not_in(sec.password, sec.cluster.read_log(), "the server log")


def test_refused_reasons_are_the_four_stable_ones(allowlisted: Sec) -> None:
    """Whatever the rule, the client reads one of four sentences; an allowed client
    sending no password is asked for one (and learns nothing else either)."""
    sec = allowlisted
    seen = set()
    for case in CASES[:-1]:
        kwargs, _, _, _ = refusal_cases(sec)[case]
        msg = error_message(startup(sec, **kwargs))
        assert msg.startswith("pgwarden: connection refused: ")
        seen.add(msg.removeprefix("pgwarden: connection refused: "))
    assert seen <= set(CLIENT_REASONS)
    for user, database, endpoint in (("regress_app", SHOP, None), ("regress_app", SHOP, RO),
                                     ("regress_nobody", SHOP, None)):
        options = f"-c pgwarden.endpoint={endpoint}" if endpoint else None
        transcript = startup(sec, user=user, database=database, options=options)
        assert [t for t, _ in transcript] == [b"R"]  # asked for SCRAM, nothing else
        assert struct.unpack("!I", transcript[0][1][:4])[0] == 10


def test_check_connection_keeps_the_detail_for_admins(allowlisted: Sec) -> None:
    sec = allowlisted
    assert sec.cred is not None
    with sec.local(CTL, user="regress_warden") as conn:
        verdict = allowlist.check_connection(conn, "127.0.0.2", sec.cred.role, SHOP)
    assert verdict.startswith(f'deny: role "{sec.cred.role}" is a branch role of branch "{DEV}"')
    with sec.local(CTL, user="regress_app") as conn, pytest.raises(errors.InsufficientPrivilege):
        allowlist.check_connection(conn, "127.0.0.2", sec.cred.role, SHOP)


# =========================================================== item 5: read-only endpoints
def test_every_non_immutable_function_is_classified(sec: Sec) -> None:
    """From the server's catalog: every function that is not immutable is either
    refused through read-only endpoints or classified as harmless, with a reason."""
    with sec.ctl() as conn:
        funcs = readonly_functions.functions(conn)
    unclassified = [f.signature for f in funcs if f.klass == "UNCLASSIFIED"]
    assert not unclassified, (
        "classify these in tests/support/readonly_functions.py (harmless) or ext/readonly.c "
        f"(they write): {unclassified}")
    refused = [f for f in funcs if f.refused_kind]
    assert len(refused) >= 60 and len(funcs) > 800
    # a name the script calls harmless is never one the server refuses
    allowed_names = {p for _, (_, pats) in readonly_functions.ALLOWED.items() for p in pats
                     if "*" not in p}
    assert not allowed_names & {f.name for f in refused}
    assert readonly_functions.main(["", sec.cluster.local_dsn(CTL)]) == 0


@pytest.fixture(scope="module")
def refusals(sec: Sec) -> list[tuple[str, str, str]]:
    """(label, SELECT statement, kind) for every refused function, called with NULL
    arguments of its types: directly, through a LANGUAGE internal wrapper of the
    same built-in, and (pgwarden's own) through a LANGUAGE C wrapper in the branch.
    The NULLs come from a volatile expression, so the planner cannot fold a strict
    function's call away: each call really reaches the executor."""
    with sec.ctl() as conn:
        rows = conn.execute("""
            SELECT r.function::oid, r.kind, n.nspname, p.proname, p.prosrc,
                   pg_get_function_arguments(p.oid), pg_get_function_identity_arguments(p.oid),
                   pg_get_function_result(p.oid),
                   (SELECT string_agg(CASE WHEN o = p.pronargs AND p.provariadic <> 0
                                            AND p.provariadic <> '"any"'::regtype
                                           THEN 'VARIADIC ' ELSE '' END
                                      || '(CASE WHEN random() >= 0 THEN NULL END)::'
                                      || format_type(CASE WHEN t = '"any"'::regtype
                                                          THEN 'text'::regtype ELSE t END,
                                                     NULL), ', ' ORDER BY o)
                      FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, o))
              FROM pgwarden.readonly_refusals() r
              JOIN pg_proc p ON p.oid = r.function
              JOIN pg_namespace n ON n.oid = p.pronamespace
             ORDER BY 1""").fetchall()
    out: list[tuple[str, str, str]] = []
    with sec.cluster.connect(SHOP) as conn:
        for oid, kind, nsp, name, prosrc, args, identity, result, nulls in rows:
            wrapper = f"regress_w_{oid}"
            if nsp == "pg_catalog":
                out.append((f"{name}", f"SELECT pg_catalog.{name}({nulls or ''})", kind))
                body = sql.SQL("LANGUAGE internal AS {}").format(sql.Literal(prosrc))
            else:
                body = sql.SQL("LANGUAGE C AS '$libdir/pgwarden', {}").format(sql.Literal(prosrc))
            conn.execute(sql.SQL("CREATE FUNCTION {}({}) RETURNS {} ").format(
                sql.Identifier(wrapper), sql.SQL(args), sql.SQL(result)) + body)
            conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {}({}) TO regress_ro_user").format(
                sql.Identifier(wrapper), sql.SQL(identity)))
            out.append((f"{wrapper} ({name})", f"SELECT {wrapper}({nulls or ''})", kind))
    return out


@pytest.mark.parametrize("user", ["postgres", "regress_ro_user"])
def test_every_refused_function_is_refused_through_a_read_only_endpoint(
        sec: Sec, refusals: list[tuple[str, str, str]], user: str) -> None:
    got_through: list[str] = []
    with sec.local(SHOP, user=user, endpoint=RO) as conn:
        assert conn.execute("SELECT pgwarden_is_read_only FROM (SELECT current_setting("
                            "'default_transaction_read_only') = 'on' AS pgwarden_is_read_only) x"
                            ).fetchone() == (True,)
        for label, stmt, _ in refusals:
            try:
                conn.execute(stmt)
                got_through.append(label)
            except psycopg.Error as exc:
                if (exc.diag.sqlstate != "25006" or
                        f'through read-only endpoint "{RO}"' not in (exc.diag.message_primary or "")):
                    got_through.append(f"{label}: {exc.diag.sqlstate} {exc.diag.message_primary}")
    assert not got_through, got_through
    assert len(refusals) > 120


WRITE_ATTACKS = [
    "SELECT pg_logical_emit_message(false, 'regress', 'x')",
    "SELECT pg_logical_emit_message(true, 'regress', 'x')",
    "SELECT pg_create_physical_replication_slot('regress_s', true)",
    "SELECT pg_create_physical_replication_slot('regress_s', false, true)",
    "SELECT pg_create_logical_replication_slot('regress_s', 'test_decoding')",
    "SELECT pg_create_logical_replication_slot('regress_s', 'test_decoding', true)",
    "SELECT pg_copy_physical_replication_slot('regress_keep', 'regress_s')",
    "SELECT pg_replication_slot_advance('regress_keep', pg_current_wal_lsn())",
    "SELECT pg_drop_replication_slot('regress_keep')",
    "SELECT * FROM pg_logical_slot_get_changes('regress_keep_l', NULL, NULL)",
    "SELECT pg_replication_origin_create('regress_o')",
    "SELECT pg_replication_origin_drop('regress_keep_o')",
    "SELECT pg_replication_origin_session_setup('regress_keep_o')",
    "SELECT pg_replication_origin_advance('regress_keep_o', '0/AB')",
    "SELECT pg_switch_wal()",
    "SELECT pg_create_restore_point('regress')",
    "SELECT brin_summarize_new_values('regress_brin')",
    "SELECT gin_clean_pending_list('regress_gin')",
    "SELECT nextval('regress_seq')",
    "SELECT setval('regress_seq', 42)",
    "SELECT pg_stat_reset()",
    "SELECT pg_stat_reset_shared('bgwriter')",
    "SELECT pg_stat_reset_single_table_counters('items'::regclass)",
    "SELECT pg_notify('regress_ch', 'x')",
    "NOTIFY regress_ch, 'x'",
    "SELECT lo_create(0)",
    "SELECT lo_from_bytea(0, 'x')",
    "SELECT pg_reload_conf()",
    "SELECT pg_rotate_logfile()",
    "SELECT pg_backup_start('regress')",
    "SELECT txid_current()",
    "SELECT pg_current_xact_id()",
    "SELECT pg_import_system_collations('public')",
    "LOCK TABLE items IN ACCESS EXCLUSIVE MODE",
    "LOCK TABLE items IN SHARE MODE",
    "COMMIT PREPARED 'regress_px'",
    "ROLLBACK PREPARED 'regress_px'",
    "BEGIN; SELECT 1; PREPARE TRANSACTION 'regress_ro_px'",
    "SELECT set_config('transaction_read_only', 'off', false)",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "COPY (SELECT 1) TO PROGRAM 'true'",
]

#: Attacks on functions that later majors added, by the first major that has them.
WRITE_ATTACKS_FROM = {
    160000: ["SELECT pg_log_standby_snapshot()"],
    170000: ["SELECT pg_sync_replication_slots()"],
    180000: ["SELECT pg_clear_relation_stats('public', 'items')",
             ("SELECT pg_restore_relation_stats('schemaname', 'public', 'relname', 'items',"
              " 'relpages', 4242::integer, 'reltuples', 4242::real)"),
             "SELECT pg_clear_attribute_stats('public', 'items', 'v', false)",
             "SELECT pg_stat_reset_backend_stats(pg_backend_pid())"],
}


def write_attacks(server_version: int) -> list[str]:
    return WRITE_ATTACKS + [stmt for since, stmts in WRITE_ATTACKS_FROM.items()
                            if server_version >= since for stmt in stmts]


@pytest.fixture(scope="module")
def targets(sec: Sec) -> Iterator[None]:
    """What the attacks aim at: a slot, a logical slot and an origin to change, a
    transaction prepared on the read-write endpoint to commit from read-only."""
    with sec.cluster.connect(SHOP) as conn:
        conn.execute("SELECT pg_create_physical_replication_slot('regress_keep', true)")
        conn.execute("SELECT pg_create_logical_replication_slot('regress_keep_l', 'test_decoding')")
        conn.execute("SELECT pg_replication_origin_create('regress_keep_o')")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO items (id, v) VALUES (-1, 'prepared')")
        conn.execute("PREPARE TRANSACTION 'regress_px'")
    yield
    with sec.cluster.connect(SHOP) as conn:
        conn.execute("ROLLBACK PREPARED 'regress_px'")
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots")
        conn.execute("SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin")


def fingerprint(sec: Sec) -> tuple[Any, ...]:
    with sec.cluster.connect(SHOP) as c:
        row = c.execute("""
            SELECT (SELECT string_agg(slot_name || ':' || coalesce(restart_lsn::text, '') || ':'
                                      || coalesce(confirmed_flush_lsn::text, ''), ','
                                      ORDER BY slot_name) FROM pg_replication_slots),
                   (SELECT string_agg(roname, ',') FROM pg_replication_origin),
                   (SELECT string_agg(external_id || ':' || remote_lsn, ',')
                      FROM pg_replication_origin_status),
                   (SELECT last_value FROM regress_seq),
                   (SELECT count(*) FROM pg_largeobject_metadata),
                   (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()),
                   (SELECT stats_reset FROM pg_stat_bgwriter),
                   (SELECT string_agg(gid, ',') FROM pg_prepared_xacts),
                   pg_conf_load_time(),
                   pg_walfile_name(pg_current_wal_lsn()),
                   pg_snapshot_xmax(pg_current_snapshot()),
                   (SELECT count(*) FROM pg_collation),
                   (SELECT relpages || ':' || reltuples FROM pg_class
                     WHERE oid = 'items'::regclass),
                   (SELECT count(*) FROM pg_statistic WHERE starelid = 'items'::regclass),
                   (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM items t),
                   (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender')
            """).fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize("user", ["postgres", "regress_ro_user"])
def test_write_attacks_through_a_read_only_endpoint(sec: Sec, targets: None, user: str) -> None:
    """Real arguments, real targets: every attempt fails with 25006 and nothing in the
    cluster changes (slots, origins, sequences, statistics, WAL segment, transaction
    IDs, notifications, prepared transactions, configuration)."""
    if user != "postgres":
        with sec.cluster.connect(SHOP) as conn:  # no privilege check may hide ours
            conn.execute("ALTER ROLE regress_ro_user REPLICATION")
    got: list[str] = []
    with sec.local(SHOP) as listener:
        listener.execute("LISTEN regress_ch")
        listener.add_notify_handler(lambda n: got.append(n.payload))
        time.sleep(0.2)
        before = fingerprint(sec)
        got_through: list[str] = []
        for stmt in write_attacks(listener.info.server_version):
            with sec.local(SHOP, user=user, endpoint=RO) as conn:
                try:
                    for part in stmt.split("; "):
                        conn.execute(part)
                    got_through.append(stmt)
                except psycopg.Error as exc:
                    if exc.diag.sqlstate != "25006":
                        got_through.append(f"{stmt} ({exc.diag.sqlstate}: "
                                           f"{exc.diag.message_primary})")
        time.sleep(0.5)  # a reload or a notification would have arrived by now
        listener.execute("SELECT 1")
        after = fingerprint(sec)
    if user != "postgres":
        with sec.cluster.connect(SHOP) as conn:
            conn.execute("ALTER ROLE regress_ro_user NOREPLICATION")
    assert not got_through, got_through
    assert got == []
    assert after == before
    # control: the same listener hears a read-write session, and the targets exist
    with sec.local(SHOP) as listener, sec.local(SHOP, user="regress_app") as rw:
        listener.execute("LISTEN regress_ch")
        heard: list[str] = []
        listener.add_notify_handler(lambda n: heard.append(n.payload))
        rw.execute("NOTIFY regress_ch, 'rw'")
        time.sleep(0.2)
        listener.execute("SELECT 1")
        assert heard == ["rw"]


def test_replication_connection_through_a_read_only_endpoint_refused(sec: Sec) -> None:
    """A walsender's commands (CREATE_REPLICATION_SLOT ...) bypass every SQL check:
    a read-only endpoint serves no replication connection."""
    sec.mark_log()
    dsn = psycopg.conninfo.make_conninfo(sec.cluster.local_dsn(SHOP), replication="database",
                                         options=f"-c pgwarden.endpoint={RO}")
    with pytest.raises(psycopg.OperationalError, match="endpoint unavailable"):
        psycopg.connect(dsn).close()
    gate_detail(sec.cluster, "(endpoint_replication)", "serves no replication connection")
    # through the read-write endpoint, logical replication connects as before
    rw = psycopg.conninfo.make_conninfo(sec.cluster.local_dsn(SHOP), replication="database")
    psycopg.connect(rw).close()


def test_what_a_read_only_endpoint_still_allows(sec: Sec) -> None:
    """The decisions of ext/readonly.c: advisory locks, LISTEN, session settings,
    exported snapshots, signalling a session, and reading everything."""
    with sec.local(SHOP, user="regress_ro_user") as other, \
            sec.local(SHOP, user="regress_ro_user", endpoint=RO) as conn:
        assert conn.execute("SELECT pg_advisory_lock(7)::text, pg_advisory_unlock(7)"
                            ).fetchone() == ("", True)
        conn.execute("LISTEN regress_ro")
        assert conn.execute("SELECT set_config('work_mem', '8MB', false)").fetchone() == ("8MB",)
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            assert conn.execute("SELECT pg_export_snapshot()").fetchone() is not None
        assert conn.execute("SELECT pg_cancel_backend(%s)", [other.info.backend_pid]
                            ).fetchone() == (True,)
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (100,)
        assert conn.execute("SELECT last_value FROM regress_seq").fetchone() is not None


# =========================================================== README
README = ROOT / "README.md"


def readme_fields(start: str) -> dict[str, str]:
    """The -- ERROR / DETAIL / HINT lines of the README's example that starts with `start`."""
    text = README.read_text()
    i = text.index(start)
    block = text[i:text.index("```", i)]
    return dict(re.findall(r"-- (ERROR|DETAIL|HINT):\s+(.*)", block))


def test_readme_examples(spare: Sec) -> None:
    sec = spare
    # the capacity refusal (the README shows the default 8 MB; this cluster has 128 kB)
    documented = readme_fields("SELECT count(pgwarden.create_endpoint('dev', 'f' || g")
    with sec.local(CTL, user="regress_warden") as conn, \
            pytest.raises(errors.ProgramLimitExceeded) as info:
        run_capacity_attack(conn, "one statement")
    d = info.value.diag
    assert documented["ERROR"] == d.message_primary
    assert documented["HINT"] == d.message_hint
    number = re.compile(r"\d+ kB")
    assert number.sub("N kB", documented["DETAIL"]) == number.sub("N kB", d.message_detail or "")
    # a function refused through a read-only endpoint
    documented = readme_fields("SELECT pg_create_physical_replication_slot('s', true);")
    with sec.local(SHOP, endpoint=RO) as conn, pytest.raises(psycopg.Error) as err:
        conn.execute("SELECT pg_create_physical_replication_slot('s', true)")
    d = err.value.diag
    assert documented == {"ERROR": (d.message_primary or "").replace(RO, "shop-ro"),
                          "DETAIL": d.message_detail, "HINT": d.message_hint}
    # what refused clients read, and the log line that goes with it
    text = README.read_text()
    shown = re.findall(r"^FATAL:  pgwarden: connection refused: (.*)$", text, re.MULTILINE)
    assert shown and set(shown) <= set(CLIENT_REASONS)
    for reason in CLIENT_REASONS:
        assert f"`{reason}`" in text, reason
    documented_detail = re.search(r"^DETAIL:  (Connection from 203\.0\.113\.99 .*)$", text,
                                  re.MULTILINE)
    assert documented_detail is not None
    with sec.ctl() as conn:
        allowlist.add(conn, ["127.0.0.2"])
        allowlist.wait_published(conn)
    assert "address not allowed" in error_message(
        startup(sec, user="regress_app", database=SHOP, source="127.0.0.3"))
    logged = gate_detail(sec.cluster, "Connection from 127.0.0.3").split("DETAIL:  ", 1)[1]
    assert logged == (documented_detail.group(1).replace("203.0.113.99", "127.0.0.3")
                      .replace('"app"', '"regress_app"').replace('"shop"', f'"{SHOP}"'))
    # the verdict names the README lists are exactly the gate's
    names = re.search(r"The names are (.*?) \(`ext/gate\.h`", text, re.DOTALL)
    assert names is not None
    listed = set(re.findall(r"`(\w+)`", names.group(1)))
    header = (ROOT / "ext" / "gate.c").read_text()
    table = set(re.findall(r'\[PGW_VERDICT_\w+\] = \{"(\w+)", PGW_CLIENT_(?!ADMITTED)', header))
    assert listed == table
