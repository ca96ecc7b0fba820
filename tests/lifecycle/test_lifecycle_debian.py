"""Debian's layout (pg_createcluster): postgresql.conf in /etc/postgresql/V/C,
the data directory elsewhere.  `pgwarden tls init` finds the configuration
file (Debian's conf root, --config-file, or SHOW config_file over --dsn),
and every other command works on such a cluster.

The cluster is the suite's own PostgreSQL build with its configuration moved
out of the data directory the way pg_createcluster lays it out, under a
private root standing in for /etc.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Iterator

import psycopg
import pytest

from pgwarden.cli import main
from pgwarden.sandbox import Cluster
from pgwarden.tls import find_config_file, init_server_tls

PASSWORD = "pgw_Db7vQ2xK9pMw4RtZ8nC6"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


class DebianCluster(Cluster):
    """Configuration in ETC/postgresql/15/main, data in base/data."""

    def init(self) -> DebianCluster:
        super().init()
        self.etc = self.base / "etc" / "postgresql"
        self.confdir = self.etc / "15" / "main"
        self.confdir.mkdir(parents=True)
        for d in (self.base / "etc", self.etc, self.etc / "15", self.confdir):
            self._chown(d)
        for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
            shutil.move(str(self.data / name), self.confdir / name)
        conf = self.confdir / "postgresql.conf"
        # What pg_createcluster writes: the three paths, and ssl lines early in the file.
        conf.write_text(f"data_directory = '{self.data}'\n"
                        f"hba_file = '{self.confdir / 'pg_hba.conf'}'\n"
                        f"ident_file = '{self.confdir / 'pg_ident.conf'}'\n"
                        "ssl = off\n" + conf.read_text())
        return self

    def start(self, wait: bool = True) -> None:
        if self.as_root and not self.logfile.exists():
            self.logfile.touch()
            self._chown(self.logfile)
        self.run(self.bindir / "pg_ctl", "-D", self.confdir, "-l", self.logfile,
                 "-o", "-c log_destination=stderr", "-w", "-t", "60", "start")

    def reload(self) -> None:
        with self.connect() as conn:
            conn.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="module")
def debian() -> Iterator[DebianCluster]:
    """One cluster for the module: each test leaves it as tls init leaves it."""
    c = DebianCluster(tls=False).init()
    try:
        c.start()
        with c.connect() as conn:
            conn.execute(f"CREATE ROLE regress_app LOGIN PASSWORD '{PASSWORD}'")
        yield c
    finally:
        c.destroy()


def wait_ssl_on(c: Cluster) -> None:
    c.reload()
    for _ in range(100):
        with c.connect() as conn:
            if conn.execute("SHOW ssl").fetchone() == ("on",):
                return
    raise AssertionError("ssl did not come on after the reload")


def assert_verify_full_works(c: Cluster) -> None:
    with psycopg.connect(c.tcp_dsn("regress_app", PASSWORD)) as conn:
        assert conn.info.pgconn.ssl_in_use


def test_tls_init_finds_the_debian_configuration(debian: DebianCluster) -> None:
    c = debian
    assert not (c.data / "postgresql.conf").exists()
    assert find_config_file(c.data, [c.etc]) == c.confdir / "postgresql.conf"
    written = init_server_tls(c.data, ["localhost", "127.0.0.1"], conf_roots=[c.etc])
    assert written["postgresql_conf"] == c.confdir / "postgresql.conf"
    text = (c.confdir / "postgresql.conf").read_text()
    # An absolute include (relative ones resolve against /etc/...), last, once.
    assert text.rstrip().splitlines()[-1] == f"include_if_exists = '{c.data / 'pgwarden_tls.conf'}'"
    init_server_tls(c.data, ["localhost", "127.0.0.1"], conf_roots=[c.etc])
    assert (c.confdir / "postgresql.conf").read_text().count("pgwarden_tls.conf") == 1
    wait_ssl_on(c)
    assert_verify_full_works(c)


def test_tls_init_without_a_configuration_file_says_what_to_pass(debian: DebianCluster) -> None:
    code, _, err = run_cli("tls", "init", "--pgdata", str(debian.data), "--hostname", "localhost")
    assert code == 2
    assert "has no postgresql.conf" in err and "--config-file" in err and "--dsn" in err


def test_tls_init_with_config_file(debian: DebianCluster) -> None:
    c = debian
    code, out, err = run_cli("tls", "init", "--pgdata", str(c.data), "--config-file",
                             str(c.confdir / "postgresql.conf"), "--hostname", "localhost",
                             "--hostname", "127.0.0.1")
    assert code == 0, err
    assert f"included from: {c.confdir / 'postgresql.conf'}" in out.splitlines()
    wait_ssl_on(c)
    assert_verify_full_works(c)


def test_tls_init_asks_the_server_over_dsn(debian: DebianCluster) -> None:
    c = debian
    code, out, err = run_cli("tls", "init", "--dsn", c.local_dsn(), "--hostname", "localhost",
                             "--hostname", "127.0.0.1")
    assert code == 0, err
    assert f"wrote ca cert: {c.data / 'pgwarden_ca.crt'}" in out.splitlines()
    assert f"included from: {c.confdir / 'postgresql.conf'}" in out.splitlines()
    wait_ssl_on(c)
    assert_verify_full_works(c)
    code, ca, _ = run_cli("tls", "ca", "--dsn", c.local_dsn())
    assert code == 0 and ca == (c.data / "pgwarden_ca.crt").read_text()
    # --pgdata that is not the server's: refused
    code, _, err = run_cli("tls", "init", "--dsn", c.local_dsn(), "--pgdata", str(c.base),
                           "--hostname", "localhost")
    assert code == 2 and "is not the data directory of that server" in err
    # a role that may not read the settings
    with c.connect() as conn:
        conn.execute("CREATE ROLE regress_nobody LOGIN")
    code, _, err = run_cli("tls", "init", "--dsn", c.local_dsn(user="regress_nobody"),
                           "--hostname", "localhost")
    assert code == 2 and "--config-file" in err


def test_every_command_works_on_a_debian_cluster(debian: DebianCluster) -> None:
    c = debian
    assert run_cli("tls", "init", "--dsn", c.local_dsn(), "--hostname", "localhost",
                   "--hostname", "127.0.0.1")[0] == 0
    wait_ssl_on(c)
    with c.connect() as conn:
        conn.execute("CREATE DATABASE regress_ctl")
        conn.execute("CREATE DATABASE regress_shop OWNER regress_app")
    with c.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden")
    dsn = c.local_dsn("regress_ctl")
    steps = [
        ["install", "--check", "--dsn", dsn],
        ["ip-allow", "add", "127.0.0.1", "::1", "--dsn", dsn],
        ["ip-allow", "list", "--dsn", dsn, "--output", "json"],
        ["ip-allow", "check", "127.0.0.1", "--role", "regress_app", "--database", "regress_shop",
         "--dsn", dsn],
        ["branches", "register", "regress_shop", "--dsn", dsn],
        ["branches", "protect", "regress_shop", "--dsn", dsn],
        ["branches", "create", "regress_dev", "--parent", "regress_shop", "--dsn", dsn,
         "--output", "json"],
        ["endpoints", "create", "regress_dev", "regress_dev_ro", "--kind", "read_only",
         "--dsn", dsn],
        ["endpoints", "list", "--dsn", dsn],
        ["roles", "list", "--dsn", dsn],
        ["connection-string", "regress_dev", "--role", "regress_app", "--host", "127.0.0.1",
         "--pgdata", str(c.data), "--dsn", dsn],
        ["branches", "reset", "regress_dev", "--dsn", dsn, "--yes"],
        ["branches", "recover", "--dsn", dsn],
        ["branches", "delete", "regress_dev", "--dsn", dsn, "--yes"],
        ["branches", "unprotect", "regress_shop", "--dsn", dsn],
        ["ip-allow", "reset", "--dsn", dsn, "--yes"],
        ["project", "delete", "--yes", "--dsn", dsn],
    ]
    outputs = {}
    for argv in steps:
        code, out, err = run_cli(*argv)
        assert code == 0, (argv, err)
        outputs[" ".join(argv[:2])] = out
        if argv[:2] == ["branches", "create"]:
            (cred,) = json.loads(out)["credentials"]
            with psycopg.connect(c.tcp_dsn(cred["role"], cred["password"],
                                           dbname="regress_dev")) as conn:
                assert conn.info.pgconn.ssl_in_use
    uri = outputs["connection-string regress_dev"].strip()
    assert f"sslrootcert={os.fspath(c.data / 'pgwarden_ca.crt')}".replace("/", "%2F") in uri
    assert "kept database regress_shop" in outputs["project delete"]
