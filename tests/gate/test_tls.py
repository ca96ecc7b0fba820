"""TLS that clients can verify: `pgwarden tls init|ca` and `pgwarden connection-string`.

A fresh cluster starts without TLS; `pgwarden tls init` gives it a CA and a
server certificate, and clients then connect with sslmode=verify-full.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography import x509
from psycopg import sql

from pgwarden import generate_password
from pgwarden.cli import main
from pgwarden.cmd_connstr import make_uri
from pgwarden.sandbox import Cluster
from support.clusters import ClusterFactory


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def plain(module_cluster: ClusterFactory) -> Iterator[tuple[Cluster, str, str]]:
    """A cluster initialised without TLS, given certificates by the CLI."""
    c = module_cluster(tls=False, start=False)
    code, out, _ = run_cli("tls", "init", "--pgdata", str(c.data), "--hostname", "localhost",
                           "--hostname", "127.0.0.1", "--hostname", "::1")
    assert code == 0, out
    assert [ln.split(":")[0] for ln in out.splitlines()[:4]] == [
        "wrote ca cert", "wrote server cert", "wrote server key", "wrote config"]
    assert out.splitlines()[4] == "names: localhost, 127.0.0.1, ::1"
    c.start()
    with c.connect() as conn:
        pw = generate_password()
        conn.execute(sql.SQL("CREATE ROLE regress_tls LOGIN PASSWORD {}").format(
            sql.Literal(pw)))
    yield c, "regress_tls", pw


def test_tls_init_installs_files_with_server_permissions(plain: Any) -> None:
    c, _, _ = plain
    key = c.data / "server.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((c.data / "pgwarden_ca.key").stat().st_mode) == 0o600
    assert key.stat().st_uid == c.data.stat().st_uid  # owned by the server's user
    cert = x509.load_pem_x509_certificate((c.data / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(a) for a in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    with c.connect() as conn:
        assert conn.execute("SHOW ssl").fetchone() == ("on",)


def test_tls_ca_prints_the_ca_certificate(plain: Any) -> None:
    c, _, _ = plain
    code, out, _ = run_cli("tls", "ca", "--pgdata", str(c.data))
    assert code == 0
    assert out == (c.data / "pgwarden_ca.crt").read_text()
    assert x509.load_pem_x509_certificate(out.encode()).subject.rfc4514_string() == "CN=pgwarden CA"


def test_tls_ca_without_init_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run_cli("tls", "ca", "--pgdata", str(tmp_path))
    assert code == 2 and "run pgwarden tls init first" in err


def test_verify_full_connects_with_the_connection_string(plain: Any, tmp_path: Path) -> None:
    c, role, pw = plain
    ca = tmp_path / "ca.crt"
    ca.write_text(run_cli("tls", "ca", "--pgdata", str(c.data))[1])
    for host in ("localhost", "127.0.0.1", "::1"):
        code, out, _ = run_cli("connection-string", "--host", host, "--port", str(c.port),
                               "--user", role, "--dbname", "postgres",
                               "--sslrootcert", str(ca))
        uri = out.strip()
        assert code == 0 and "sslmode=verify-full" in uri and "sslrootcert=" in uri
        assert pw not in uri
        with psycopg.connect(uri, password=pw, connect_timeout=10) as conn:
            assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") \
                .fetchone() == (True,)


def test_verify_full_fails_for_another_host_name(plain: Any, tmp_path: Path) -> None:
    c, role, pw = plain
    other = tmp_path / "other"
    other.mkdir()
    (other / "PG_VERSION").write_bytes((c.data / "PG_VERSION").read_bytes())
    (other / "postgresql.conf").write_text("")
    # same CA, certificate for db.example.test only
    for name in ("pgwarden_ca.crt", "pgwarden_ca.key"):
        (other / name).write_bytes((c.data / name).read_bytes())
    run_cli("tls", "init", "--pgdata", str(other), "--hostname", "db.example.test")
    for name in ("server.crt", "server.key"):
        target = c.data / name
        target.write_bytes((other / name).read_bytes())
    os.chmod(c.data / "server.key", 0o600)
    c.reload()
    try:
        uri = make_uri({"host": "127.0.0.1", "port": c.port, "user": role, "dbname": "postgres",
                        "sslrootcert": str(c.ca_cert)})
        with pytest.raises(psycopg.OperationalError, match="does not match host name"), \
                psycopg.connect(uri, password=pw, connect_timeout=10):
            pass
    finally:
        run_cli("tls", "init", "--pgdata", str(c.data), "--hostname", "localhost",
                "--hostname", "127.0.0.1", "--hostname", "::1")
        c.reload()


def test_connection_string_takes_defaults_from_dsn(tmp_path: Path) -> None:
    code, out, _ = run_cli("connection-string", "--dsn",
                           "host=db.example.test port=6432 user=app dbname=shop password=x",
                           "--pgdata", str(tmp_path))
    assert code == 0
    assert out.strip() == ("postgresql://app@db.example.test:6432/shop?sslmode=verify-full"
                           f"&sslrootcert={str(tmp_path / 'pgwarden_ca.crt').replace('/', '%2F')}")


def test_connection_string_refuses_a_socket_or_no_ca() -> None:
    code, _, err = run_cli("connection-string", "--host", "/var/run/postgresql",
                           "--sslrootcert", "/x")
    assert code == 2 and "TCP host" in err
    code, _, err = run_cli("connection-string", "--host", "db.example.test")
    assert code == 2 and "--sslrootcert or --pgdata" in err


def test_require_ssl_without_ssl_says_how_to_fix_it(
        private_cluster: ClusterFactory, tmp_path: Path) -> None:
    c = private_cluster(tls=False)
    with c.connect() as conn:
        pw = generate_password()
        conn.execute(sql.SQL("CREATE ROLE regress_nossl LOGIN PASSWORD {}").format(
            sql.Literal(pw)))
    assert c.wait_for_log("pgwarden.require_ssl is on but ssl is off: every TCP connection "
                          "will be refused", timeout=5)
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(c.tcp_dsn("regress_nossl", pw, sslmode="prefer")).close()
    msg = str(info.value)
    assert "pgwarden: connection refused: TLS required" in msg
    assert "The server has ssl = off" in msg and "pgwarden tls init" in msg  # the HINT
