"""`pgwarden connection-string`: URIs that verify the server (sslmode=verify-full).

::

    pgwarden connection-string --host db.example.com --user app --dbname shop \\
        --sslrootcert ~/.postgresql/pgwarden_ca.crt
    postgresql://app@db.example.com:5432/shop?sslmode=verify-full&sslrootcert=...

Defaults come from ``--dsn`` (or the PG* environment variables), then the
flags.  The URI never carries a password.

To extend (branches, endpoints): add arguments in :func:`add_arguments`, turn
them into connection parameters in a function appended to
:data:`PARAMETER_SOURCES` (it receives the parsed arguments and the
parameters so far, and returns the updated parameters), and keep
:func:`make_uri` as the single place URIs are formatted.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from psycopg.conninfo import conninfo_to_dict

from ._cli_util import EXIT_OK, CommandError, add_command, print_record
from .cmd_branches import branch_parameters
from .tls import CA_CERT

Params = dict[str, str]

#: Functions that fill connection parameters from the parsed arguments, in order.
PARAMETER_SOURCES: list[Callable[[argparse.Namespace, Params], Params]] = []


def make_uri(params: Mapping[str, Any]) -> str:
    """A postgresql:// URI with sslmode=verify-full from connection parameters.

    Needs ``host`` (a name or address the server certificate carries) and
    ``sslrootcert``.  ``password`` is never included.
    """
    host = str(params.get("host") or "")
    if not host or host.startswith("/"):
        raise ValueError("verify-full needs a TCP host name or address (not a Unix socket)")
    root = params.get("sslrootcert")
    if not root:
        raise ValueError("verify-full needs the CA certificate: give --sslrootcert or --pgdata")
    hostpart = f"[{host}]" if ":" in host else quote(host, safe="")
    user = params.get("user")
    userpart = f"{quote(str(user), safe='')}@" if user else ""
    port = params.get("port")
    portpart = f":{port}" if port else ""
    db = params.get("dbname")
    dbpart = f"/{quote(str(db), safe='')}" if db else "/"
    query: dict[str, str] = {"sslmode": "verify-full", "sslrootcert": str(root)}
    for key in ("options", "application_name", "connect_timeout"):
        if params.get(key):
            query[key] = str(params[key])
    return f"postgresql://{userpart}{hostpart}{portpart}{dbpart}?{urlencode(query, quote_via=quote)}"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="host name or address in the server certificate")
    p.add_argument("--port", type=int)
    p.add_argument("--user", help="role to connect as")
    p.add_argument("--dbname", help="database")
    p.add_argument("--sslrootcert", type=Path, help="CA certificate clients verify the server with")
    p.add_argument("--pgdata", type=Path,
                   help="take the CA certificate from this data directory (pgwarden tls init)")
    p.add_argument("branch", nargs="?",
                   help="a pgwarden branch: connect to its database (--dsn must reach the "
                        "control database)")
    p.add_argument("--role", help="role to connect as; a parent role of a branch made from a "
                                  "protected branch is replaced by its branch role")
    p.add_argument("--endpoint", help="endpoint of the branch (options=-c pgwarden.endpoint=NAME)")


def _from_base(args: argparse.Namespace, params: Params) -> Params:
    base: dict[str, Any] = conninfo_to_dict(args.dsn) if args.dsn else {}
    env = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE",
           "sslrootcert": "PGSSLROOTCERT"}
    for key, var in env.items():
        if key not in base and os.environ.get(var):
            base[key] = os.environ[var]
    for key in ("host", "port", "user", "dbname", "sslrootcert"):
        value = getattr(args, key, None)
        if value is not None:
            base[key] = value
    if getattr(args, "pgdata", None) is not None and "sslrootcert" not in base:
        base["sslrootcert"] = args.pgdata / CA_CERT
    params.update({k: str(v) for k, v in base.items() if k != "password" and v is not None})
    return params


PARAMETER_SOURCES.append(_from_base)
PARAMETER_SOURCES.append(branch_parameters)


def register(sub: Any) -> None:
    p = add_command(sub, "connection-string",
                    help="print a sslmode=verify-full connection URI (never with a password)",
                    example=[("pgwarden connection-string --host db.example.com --user app "
                              "--dbname shop --sslrootcert ca.crt"),
                             ("pgwarden connection-string dev --role app --endpoint dev-ro "
                              "--host db.example.com --sslrootcert ca.crt")])
    add_arguments(p)
    p.set_defaults(func=cmd_connection_string)


def cmd_connection_string(args: argparse.Namespace) -> int:
    params: Params = {}
    for source in PARAMETER_SOURCES:
        params = source(args, params)
    try:
        uri = make_uri(params)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if args.output == "json":
        print_record({"uri": uri}, "json")
    else:
        print(uri)
    return EXIT_OK
