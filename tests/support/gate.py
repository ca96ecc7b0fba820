"""The connection gate's fixtures and helpers, shared by every feature directory:
connections from a chosen loopback source address, roles with generated
passwords, an emptied allowlist, and a scratch cluster of a module's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden import allowlist
from pgwarden.sandbox import Cluster
from support.clusters import ClusterFactory
from support.proxy import Proxy

Connector = Callable[..., "str | None"]


# --------------------------------------------------------------------------- helpers
def refusal(dsn: str) -> str | None:
    """None when a connection succeeds, else the server's message (never a password)."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.OperationalError as exc:
        return str(exc).split("FATAL:", 1)[-1].strip()


def tcp_dsn(cluster: Cluster, user: str, password: str, *, host: str = "127.0.0.1",
            port: int | None = None, dbname: str = "postgres",
            sslmode: str = "verify-full") -> str:
    kw: dict[str, Any] = {"host": host, "port": port or cluster.port, "dbname": dbname,
                          "user": user, "password": password, "sslmode": sslmode,
                          "connect_timeout": 10}
    if sslmode == "verify-full":
        kw["sslrootcert"] = str(cluster.ca_cert)
    return psycopg.conninfo.make_conninfo(**kw)


@pytest.fixture
def gate(admin: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """The control database, with the allowlist emptied again afterwards."""
    allowlist.reset(admin, force=True)
    allowlist.set_protected_only(admin, False)
    allowlist.wait_published(admin)
    yield admin
    allowlist.reset(admin, force=True)
    allowlist.set_protected_only(admin, False)
    allowlist.wait_published(admin)


@pytest.fixture
def make_role(admin: psycopg.Connection[Any]) -> Callable[..., tuple[str, str]]:
    """Create a login role regress_<name> with a generated password."""
    def make(name: str, *, admin_member: bool = False) -> tuple[str, str]:
        role = f"regress_{name}"
        pw = admin.execute("SELECT pgwarden.generate_password()").fetchone()[0]  # type: ignore[index]
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(pw)))
        if admin_member:
            admin.execute(sql.SQL("GRANT pgwarden_admin TO {}").format(sql.Identifier(role)))
        return role, pw
    return make


@pytest.fixture
def via(cluster: Cluster) -> Iterator[Callable[[str], Proxy]]:
    """Proxies that make the server see a given loopback source address."""
    proxies: dict[str, Proxy] = {}

    def get(source: str) -> Proxy:
        if source not in proxies:
            proxies[source] = Proxy(cluster.port, source)
        return proxies[source]
    yield get
    for p in proxies.values():
        p.close()


@pytest.fixture
def connect_from(cluster: Cluster, via: Callable[[str], Proxy]) -> Connector:
    """refusal() of a TLS (verify-full) connection from a loopback source address."""
    def attempt(source: str, role: str, password: str, dbname: str = "postgres",
                sslmode: str = "verify-full") -> str | None:
        if source == "::1":
            return refusal(tcp_dsn(cluster, role, password, host="::1", dbname=dbname,
                                   sslmode=sslmode))
        if source == "127.0.0.1":
            return refusal(tcp_dsn(cluster, role, password, dbname=dbname, sslmode=sslmode))
        return refusal(tcp_dsn(cluster, role, password, port=via(source).port, dbname=dbname,
                               sslmode=sslmode))
    return attempt


# --------------------------------------------------------------------------- a module's own cluster
SCRATCH_HBA = [
    "local all all trust",
    "local replication all trust",
    "host all all 127.0.0.0/8 scram-sha-256",
    "host all all ::1/128 scram-sha-256",
]
SCRATCH_DB = "regress_ctl"


class Scratch:
    """A cluster of the module's own, for restarts, damage and replication."""

    def __init__(self, clusters: ClusterFactory) -> None:
        self.cluster = clusters(hba=SCRATCH_HBA, conf=["log_min_messages = 'info'"],
                                control_db=SCRATCH_DB)
        self.role = "regress_app"
        self.password = ""

    def setup(self) -> None:
        with self.admin() as conn:
            self.password = conn.execute("SELECT pgwarden.generate_password()").fetchone()[0]  # type: ignore[index]
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(self.role), sql.Literal(self.password)))
            allowlist.wait_published(conn)

    def admin(self) -> psycopg.Connection[Any]:
        return self.cluster.connect(SCRATCH_DB)

    def attempt(self, source: str = "127.0.0.1", *, cluster: Cluster | None = None) -> str | None:
        c = cluster or self.cluster
        if source in ("127.0.0.1", "::1"):
            return refusal(tcp_dsn(c, self.role, self.password, host=source))
        with Proxy(c.port, source) as p:
            return refusal(tcp_dsn(c, self.role, self.password, port=p.port))


@pytest.fixture(scope="module")
def scratch(module_cluster: ClusterFactory) -> Scratch:
    s = Scratch(module_cluster)
    s.setup()
    return s


@pytest.fixture
def fresh(scratch: Scratch) -> Iterator[Scratch]:
    yield scratch
    with scratch.admin() as conn:
        allowlist.reset(conn, force=True)
        allowlist.wait_published(conn)
