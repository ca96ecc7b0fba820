"""Sentences saying what to do, for the setup mistakes people make most.

When a command fails because pgwarden is not created in the database the
DSN names (or not at all), or because the role is not allowed to manage
pgwarden, the command looks once more (a second, read-only connection) and
says what to do instead of repeating the server's catalog error.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from . import errors
from ._cli_util import EXIT_FAILED, EXIT_SERVER, EXIT_USAGE, shell_quote

#: The database that holds pgwarden's mark (set by CREATE EXTENSION).
CONTROL_QUERY = """
SELECT d.datname
  FROM pg_catalog.pg_shdescription s
  JOIN pg_catalog.pg_roles r ON r.oid = s.objoid AND r.rolname = 'pgwarden_admin'
  JOIN pg_catalog.pg_database d ON s.description = 'pgwarden control database ' || d.oid::text
 WHERE s.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass
"""

PRIVILEGE_QUERY = """
SELECT current_user AS who, current_database() AS db,
       (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS super,
       EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgwarden_admin'
                 AND pg_catalog.pg_has_role(current_user, oid, 'MEMBER')) AS admin
"""

_PERMISSION = re.compile(r"^permission denied for (function|procedure|view|table|relation|"
                         r"schema|sequence) ")


def _ident(name: str) -> str:
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _look(dsn: str, query: str) -> dict[str, Any] | None:
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(query)
            row = cur.fetchone()
            if row is None or cur.description is None:
                return {}
            return {d.name: v for d, v in zip(cur.description, row)}
    except psycopg.Error:
        return None


def explain(exc: errors.PgwardenError, dsn: str) -> tuple[str, str | None, int]:
    """(message, hint, exit status) for a pgwarden error met by a command."""
    from .cli import EXIT_FOR

    code = next(c for cls, c in EXIT_FOR if isinstance(exc, cls))
    if isinstance(exc, errors.ConnectionFailed):
        first = (exc.message.strip().splitlines() or ["the server did not answer"])[0]
        first = re.sub(r"^(connection is bad|connection failed): ", "", first)
        return (f"could not connect to the server: {first}",
                exc.hint or "check --dsn (or PGHOST, PGPORT, PGUSER, PGDATABASE)", EXIT_SERVER)
    if isinstance(exc, errors.NotInstalledError):
        where = _look(dsn, "SELECT current_database() AS db")
        db = (where or {}).get("db") or "?"
        control = _look(dsn, CONTROL_QUERY)
        if control and control.get("datname"):
            other = str(control["datname"])
            return (f'pgwarden is created in database "{other}", not in "{db}": connect to it',
                    f"pass --dsn {shell_quote('dbname=' + other)} (or set PGDATABASE={other})",
                    EXIT_USAGE)
        return (f'pgwarden is not created in database "{db}": '
                + "run CREATE EXTENSION pgwarden in the control database",
                "pgwarden install --check says what is missing (the library, the preload, "
                + "the extension)", EXIT_FAILED)
    if isinstance(exc, errors.PermissionDenied) and _PERMISSION.match(exc.message):
        who = _look(dsn, PRIVILEGE_QUERY)
        if who and not who.get("super") and not who.get("admin"):
            role = str(who.get("who"))
            return (f'role "{role}" may not manage pgwarden: '
                    + "connect as a superuser or a member of pgwarden_admin",
                    f"a superuser can run: GRANT pgwarden_admin TO {_ident(role)};", EXIT_SERVER)
    return exc.message, exc.hint, code
