"""Test harness: a real PostgreSQL cluster (the major $PG_CONFIG names) with pgwarden preloaded and TLS on.

The cluster is started by the suite (as the postgres user when run as root)
and handed to pytest-postgresql's ``postgresql_noproc`` factory, whose
``postgresql`` fixture gives tests a fresh database each.  pgwarden itself is
created in the control database ``regress_control``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pytest_postgresql import factories
from pytest_postgresql.executors import NoopExecutor

from pgwarden.sandbox import Cluster
from support import CONTROL_DB

# Fixtures every feature directory shares (tests/support/).
pytest_plugins = ["support.clusters", "support.gate", "support.branches"]


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    c = Cluster(conf=["log_statement = 'all'", "log_min_error_statement = 'info'",
                      "log_min_messages = 'info'"]).init()
    c.start()
    try:
        with c.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(CONTROL_DB)))
        with c.connect(CONTROL_DB) as conn:
            conn.execute("CREATE EXTENSION pgwarden")
        yield c
    finally:
        c.destroy()


@pytest.fixture(scope="session")
def pg_server(cluster: Cluster) -> NoopExecutor:
    """The suite's server, described the way pytest-postgresql's factories expect."""
    server = NoopExecutor(host=str(cluster.sockdir), port=cluster.port, user="postgres",
                          password=None, dbname="regress_db", options="")
    # The factories copy their template from the base server's template database.
    with cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(
            sql.Identifier(server.template_dbname)))
    return server


postgresql_noproc = factories.postgresql_noproc(depends_on="pg_server")
postgresql = factories.postgresql("postgresql_noproc")


@pytest.fixture
def admin(cluster: Cluster) -> Iterator[psycopg.Connection[Any]]:
    """A superuser connection to the control database (Unix socket, autocommit)."""
    with cluster.connect(CONTROL_DB) as conn:
        yield conn


@pytest.fixture(autouse=True)
def _per_test_cluster_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Mark where this test's server log starts; drop every regress_* role it created."""
    if "cluster" not in request.fixturenames:
        yield
        return
    c: Cluster = request.getfixturevalue("cluster")
    c.test_log_start = len(c.read_log())
    yield
    with c.connect(CONTROL_DB) as conn:
        conn.execute("RESET ALL")
        names = [r[0] for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\\_%'")]
        for name in names:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
