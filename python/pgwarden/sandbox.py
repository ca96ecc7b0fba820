"""Throwaway local PostgreSQL clusters with pgwarden loaded and TLS on.

Used by ``make demo`` and the test suite.  The server never runs as root:
when the caller is root, every server command runs as the ``postgres`` user
(through ``runuser``) on directories that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import psycopg

from .tls import CA_CERT, init_server_tls

SERVER_USER = "postgres"


def pg_bindir() -> Path:
    exe = os.environ.get("PG_CONFIG", "pg_config")
    out = subprocess.run([exe, "--bindir"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Cluster:
    """One PostgreSQL cluster in a temporary directory.

    ``conf`` lines are appended to postgresql.conf; ``hba`` replaces the
    default pg_hba.conf lines (local trust, TCP scram-sha-256 on loopback).
    """

    def __init__(
        self,
        *,
        base: str | os.PathLike[str] | None = None,
        port: int | None = None,
        conf: Sequence[str] = (),
        hba: Sequence[str] | None = None,
        preload: bool = True,
        tls: bool = True,
        bindir: Path | None = None,
    ) -> None:
        self.bindir = bindir or pg_bindir()
        self.base = Path(base) if base else Path(tempfile.mkdtemp(prefix="pgwarden-"))
        self.data = self.base / "data"
        self.sockdir = self.base / "sock"
        self.logfile = self.base / "server.log"
        self.port = port or free_port()
        self.conf = list(conf)
        self.hba = hba
        self.preload = preload
        self.tls = tls
        self.as_root = os.geteuid() == 0
        #: Offset in the log where the current test began (set by the test suite).
        self.test_log_start = 0

    # -- running commands as the server's user ---------------------------------
    def run(self, *cmd: str | os.PathLike[str], check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [str(c) for c in cmd]
        if self.as_root:
            argv = ["runuser", "-u", SERVER_USER, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, input=input, cwd="/",
                              check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"{Path(str(cmd[0])).name} failed "
                               f"(exit {done.returncode}): {done.stderr.strip()}")
        return done

    def _chown(self, path: Path) -> None:
        if self.as_root:
            pw = pwd.getpwnam(SERVER_USER)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    # -- life cycle ---------------------------------------------------------------
    def init(self) -> Cluster:
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        self._chown(self.base)
        self.sockdir.mkdir(exist_ok=True)
        self._chown(self.sockdir)
        self.run(self.bindir / "initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8",
                 "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256",
                 "--no-sync")
        lines = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1,::1'",
            f"unix_socket_directories = '{self.sockdir}'",
            "fsync = off",
            "max_connections = 100",
            "log_line_prefix = '%m [%p] %q%u@%d '",
            "lc_messages = 'C'",
        ]
        if self.preload:
            lines.append("shared_preload_libraries = 'pgwarden'")
        self.append_conf(lines + self.conf)
        hba = self.hba if self.hba is not None else [
            "local all all trust",
            "host all all 127.0.0.0/8 scram-sha-256",
            "host all all ::1/128 scram-sha-256",
        ]
        self.write_file("pg_hba.conf", "\n".join(hba) + "\n")
        if self.tls:
            init_server_tls(self.data, ["localhost", "127.0.0.1", "::1"])
        return self

    def append_conf(self, lines: Sequence[str]) -> None:
        with (self.data / "postgresql.conf").open("a") as f:
            f.write("\n".join(lines) + "\n")

    def write_file(self, name: str, text: str) -> None:
        path = self.data / name
        path.write_text(text)
        self._chown(path)

    def start(self, wait: bool = True) -> None:
        if self.as_root and not self.logfile.exists():
            self.logfile.touch()
            self._chown(self.logfile)
        args: list[str | os.PathLike[str]] = ["-D", self.data, "-l", self.logfile, "-o", "-c log_destination=stderr"]
        self.run(self.bindir / "pg_ctl", *args, "-w" if wait else "-W", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run(self.bindir / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop",
                 check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def reload(self) -> None:
        self.run(self.bindir / "pg_ctl", "-D", self.data, "reload")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # -- connecting ---------------------------------------------------------------
    @property
    def ca_cert(self) -> Path:
        return self.data / CA_CERT

    def local_dsn(self, dbname: str = "postgres", user: str = "postgres") -> str:
        """Superuser over the Unix socket (local administration)."""
        return psycopg.conninfo.make_conninfo(
            host=str(self.sockdir), port=self.port, dbname=dbname, user=user)

    def tcp_dsn(self, user: str, password: str | None = None, *, dbname: str = "postgres",
                host: str = "127.0.0.1", sslmode: str = "verify-full", **extra: Any) -> str:
        kw: dict[str, Any] = dict(host=host, port=self.port, dbname=dbname, user=user,
                                  sslmode=sslmode, connect_timeout=10, **extra)
        if sslmode in ("verify-ca", "verify-full"):
            kw["sslrootcert"] = str(self.ca_cert)
        if password is not None:
            kw["password"] = password
        return psycopg.conninfo.make_conninfo(**kw)

    def connect(self, dbname: str = "postgres", **kw: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.local_dsn(dbname), autocommit=True, **kw)

    def read_log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.read_log():
                return True
            time.sleep(0.05)
        return False

    # -- replication ----------------------------------------------------------------
    def make_standby(self, *, conf: Sequence[str] = ()) -> Cluster:
        """A streaming standby of this (running) cluster, initialised, not started.

        Made with pg_basebackup over the Unix socket, so this cluster's
        pg_hba.conf needs a ``local replication all trust`` line.  The copy
        keeps the TLS files and settings; it gets its own port and socket
        directory and follows this cluster through ``primary_conninfo``.
        """
        standby = Cluster(conf=conf, hba=self.hba, preload=self.preload, tls=self.tls,
                          bindir=self.bindir)
        standby.base.mkdir(parents=True, exist_ok=True)
        os.chmod(standby.base, 0o755)
        standby._chown(standby.base)
        standby.sockdir.mkdir(exist_ok=True)
        standby._chown(standby.sockdir)
        self.run(self.bindir / "pg_basebackup", "-D", standby.data, "-h", self.sockdir,
                 "-p", str(self.port), "-U", "postgres", "-X", "stream", "-R", "--no-sync")
        standby.append_conf([
            f"port = {standby.port}",
            f"unix_socket_directories = '{standby.sockdir}'",
            "hot_standby = on",
            *standby.conf,
        ])
        return standby
