"""`pgwarden tls init|ca`: certificates clients can verify with sslmode=verify-full.

::

    pgwarden tls init --pgdata /var/lib/postgresql/15/main --hostname db.example.com \\
        --hostname 203.0.113.7
    pg_ctl reload -D /var/lib/postgresql/15/main
    pgwarden tls ca --pgdata /var/lib/postgresql/15/main > pgwarden_ca.crt

``init`` creates a certificate authority in the data directory (or reuses the
one there), issues a server certificate whose subject alternative names are
every ``--hostname`` (DNS names and IP addresses), installs both with the
ownership and permissions PostgreSQL demands and turns ``ssl`` on through an
included configuration file.  ``ca`` prints the CA certificate to give to
clients.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._cli_util import EXIT_OK, CommandError, add_command, add_group, print_record
from .tls import CA_CERT, init_server_tls


def register(sub: Any) -> None:
    psub = add_group(sub, "tls", dest="tls_command", help="make TLS certificates clients can verify")

    init = add_command(psub, "init", help="create a CA and a server certificate, turn ssl on",
                       example="pgwarden tls init --pgdata /var/lib/postgresql/15/main "
                               "--hostname db.example.com --hostname 203.0.113.7")
    init.add_argument("--pgdata", required=True, type=Path, help="the server's data directory")
    init.add_argument("--hostname", required=True, action="append", metavar="NAME",
                      help="a host name or address clients use (repeat for several)")
    init.add_argument("--days", type=int, default=825, help="server certificate validity")
    init.set_defaults(func=cmd_init)

    ca = add_command(psub, "ca", help="print the CA certificate for clients (sslrootcert)",
                     example="pgwarden tls ca --pgdata /var/lib/postgresql/15/main > ca.crt")
    ca.add_argument("--pgdata", required=True, type=Path)
    ca.set_defaults(func=cmd_ca)


def cmd_init(args: argparse.Namespace) -> int:
    try:
        written = init_server_tls(args.pgdata, args.hostname, days=args.days)
    except (ValueError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    if args.output == "json":
        print_record({**{k: str(v) for k, v in written.items()}, "names": args.hostname}, "json")
    else:
        for what, path in written.items():
            print(f"wrote {what.replace('_', ' ')}: {path}")
        print(f"names: {', '.join(args.hostname)}")
        print(f"Reload the server to use it: pg_ctl reload -D {args.pgdata}")
        print(f"Clients verify it with: sslmode=verify-full sslrootcert={written['ca_cert']}")
    return EXIT_OK


def cmd_ca(args: argparse.Namespace) -> int:
    path = args.pgdata / CA_CERT
    if not path.is_file():
        raise CommandError(f"no CA certificate at {path}; run pgwarden tls init first")
    if args.output == "json":
        print_record({"ca_cert": str(path), "pem": path.read_text()}, "json")
    else:
        sys.stdout.write(path.read_text())
    return EXIT_OK
