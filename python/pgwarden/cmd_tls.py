"""`pgwarden tls init|ca`: certificates clients can verify with sslmode=verify-full.

::

    pgwarden tls init --pgdata /var/lib/postgresql/15/main --hostname db.example.com \\
        --hostname 203.0.113.7
    pg_ctl reload -D /var/lib/postgresql/15/main      # Debian: pg_ctlcluster 15 main reload
    pgwarden tls ca --pgdata /var/lib/postgresql/15/main > pgwarden_ca.crt

``init`` creates a certificate authority in the data directory (or reuses the
one there), issues a server certificate whose subject alternative names are
every ``--hostname`` (DNS names and IP addresses), installs both with the
ownership and permissions PostgreSQL demands and turns ``ssl`` on through an
included configuration file.  The include goes into the cluster's
postgresql.conf: the data directory's, Debian's /etc/postgresql/V/C/ one
whose data_directory is ``--pgdata``, the one ``--config-file`` names, or
the one the running server reports (``SHOW config_file``, over ``--dsn`` or
the PG* variables), which also stands in for a missing ``--pgdata``.
``ca`` prints the CA certificate to give to clients.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import psycopg

from ._cli_util import EXIT_OK, CommandError, add_command, add_group, connect, print_record
from .tls import CA_CERT, find_config_file, init_server_tls


def register(sub: Any) -> None:
    psub = add_group(sub, "tls", dest="tls_command", help="make TLS certificates clients can verify")

    init = add_command(psub, "init", help="create a CA and a server certificate, turn ssl on",
                       example=[("pgwarden tls init --pgdata /var/lib/postgresql/15/main "
                                 "--hostname db.example.com --hostname 203.0.113.7"),
                                ("pgwarden tls init --dsn 'host=/var/run/postgresql' "
                                 "--hostname db.example.com")])
    init.add_argument("--pgdata", type=Path,
                      help="the server's data directory (default: the running server's, asked "
                           "over --dsn)")
    init.add_argument("--config-file", type=Path,
                      help="the postgresql.conf to include the TLS settings from (default: "
                           "the data directory's, Debian's /etc/postgresql/V/C one, or the "
                           "running server's)")
    init.add_argument("--hostname", required=True, action="append", metavar="NAME",
                      help="a host name or address clients use (repeat for several)")
    init.add_argument("--days", type=int, default=825, help="server certificate validity")
    init.set_defaults(func=cmd_init)

    ca = add_command(psub, "ca", help="print the CA certificate for clients (sslrootcert)",
                     example="pgwarden tls ca --pgdata /var/lib/postgresql/15/main > ca.crt")
    ca.add_argument("--pgdata", type=Path,
                    help="the server's data directory (default: the running server's)")
    ca.set_defaults(func=cmd_ca)


def server_paths(dsn: str) -> tuple[Path, Path]:
    """(data_directory, config_file) as the running server reports them."""
    with connect(dsn) as conn:
        try:
            data = conn.execute("SHOW data_directory").fetchone()
            conf = conn.execute("SHOW config_file").fetchone()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise CommandError("the server shows data_directory and config_file only to "
                               "superusers and pg_read_all_settings members",
                               hint="connect as one, or pass --pgdata and --config-file") from exc
    assert data is not None and conf is not None
    return Path(data[0]), Path(conf[0])


def locate(args: argparse.Namespace, *, need_config: bool) -> tuple[Path, Path | None]:
    """The data directory and the postgresql.conf to use.

    From the options when they say enough; else from the running server
    (``--dsn`` or the PG* variables), checked against ``--pgdata``.
    """
    pgdata: Path | None = args.pgdata
    config: Path | None = getattr(args, "config_file", None)
    if pgdata is not None and (config is not None or not need_config):
        return pgdata, config
    if pgdata is not None:
        try:
            return pgdata, find_config_file(pgdata)
        except ValueError as exc:
            if not args.dsn:
                raise CommandError(str(exc)) from exc
    data, conf = server_paths(args.dsn)
    if pgdata is not None and pgdata.resolve() != data.resolve():
        raise CommandError(f"--pgdata {pgdata} is not the data directory of that server ({data})")
    return data, config or conf


def reload_hint(pgdata: Path, conf: Path) -> str:
    parts = conf.parent.parts
    if len(parts) >= 4 and parts[-4:-2] == ("etc", "postgresql"):
        return f"pg_ctlcluster {parts[-2]} {parts[-1]} reload (or SELECT pg_reload_conf();)"
    return f"pg_ctl reload -D {pgdata} (or SELECT pg_reload_conf();)"


def cmd_init(args: argparse.Namespace) -> int:
    pgdata, config = locate(args, need_config=True)
    try:
        written = init_server_tls(pgdata, args.hostname, days=args.days, config_file=config)
    except (ValueError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    if args.output == "json":
        print_record({**{k: str(v) for k, v in written.items()}, "names": args.hostname}, "json")
    else:
        for what, path in written.items():
            if what != "postgresql_conf":
                print(f"wrote {what.replace('_', ' ')}: {path}")
        print(f"names: {', '.join(args.hostname)}")
        print(f"included from: {written['postgresql_conf']}")
        print(f"Reload the server to use it: {reload_hint(pgdata, written['postgresql_conf'])}")
        print(f"Clients verify it with: sslmode=verify-full sslrootcert={written['ca_cert']}")
    return EXIT_OK


def cmd_ca(args: argparse.Namespace) -> int:
    pgdata, _ = locate(args, need_config=False)
    path = pgdata / CA_CERT
    if not path.is_file():
        raise CommandError(f"no CA certificate at {path}; run pgwarden tls init first")
    if args.output == "json":
        print_record({"ca_cert": str(path), "pem": path.read_text()}, "json")
    else:
        sys.stdout.write(path.read_text())
    return EXIT_OK
