"""Red-team findings on log masking: each way a plaintext password used to
reach the server log, pinned by a test that fails when it leaks again.

The suite's cluster logs every statement (log_statement = 'all') and every
error's statement; tests that need log_min_duration_statement set it on
their own role.  A password is never put in an assertion message: the
helpers only say where it leaked.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden.sandbox import Cluster
from support.helpers import assert_not_logged

Conn = psycopg.Connection[Any]


def random_password(n: int = 22) -> str:
    alphabet = string.ascii_letters + string.digits
    return "Rt" + "".join(secrets.choice(alphabet) for _ in range(n))


def settle(cluster: Cluster, conn: Conn) -> None:
    """Wait until everything the session logged so far is in the log file."""
    marker = f"rt-marker-{uuid.uuid4().hex}"
    conn.execute(sql.SQL("DO {} ").format(sql.Literal(f"BEGIN RAISE LOG '{marker}'; END")))
    assert cluster.wait_for_log(marker)


@pytest.fixture
def role_conn(admin: Conn, cluster: Cluster) -> Iterator[Callable[..., Conn]]:
    """Connections as an ordinary CREATEROLE role, optionally with extra settings."""
    admin.execute(sql.SQL("CREATE ROLE regress_rt_logger LOGIN CREATEROLE PASSWORD {}")
                  .format(sql.Literal(random_password())))
    admin.execute("CREATE ROLE regress_rt_target LOGIN")
    admin.execute("GRANT regress_rt_target TO regress_rt_logger WITH ADMIN OPTION")
    admin.execute("GRANT CREATE ON SCHEMA public TO regress_rt_logger")
    opened: list[Conn] = []

    def get(**settings: str) -> Conn:
        for name, value in settings.items():
            admin.execute(sql.SQL("ALTER ROLE regress_rt_logger SET {} = {}").format(
                sql.Identifier(name), sql.Literal(value)))
        conn = psycopg.connect(admin.info.dsn, user="regress_rt_logger", autocommit=True)
        opened.append(conn)
        return conn
    yield get
    for c in opened:
        c.close()
    admin.execute("REVOKE CREATE ON SCHEMA public FROM regress_rt_logger")
    admin.execute("DROP FUNCTION IF EXISTS public.regress_rt_setpw(text, text)")
    admin.execute("DROP FUNCTION IF EXISTS public.regress_rt_set_password(text, text)")


def attempt(conn: Conn, statement: str) -> None:
    try:
        conn.execute(statement)
    except psycopg.Error:
        pass


# ---- the statement text itself (log_statement, STATEMENT:, syntax errors) ----

@pytest.mark.parametrize("shape", [
    # an apostrophe outside any literal used to shift the masker off by one quote
    "ALTER ROLE regress_rt_target /* it's */ PASSWORD {pw}",
    "ALTER ROLE regress_rt_target -- it's\n PASSWORD {pw}",
    "ALTER ROLE \"regress_rt_it's\" PASSWORD {pw}",
    "ALTER ROLE \"regress_rt_nobody's\" PASSWORD {pw}",
    "CREATE ROLE regress_rt_new PASSWORD {pw} IN ROLE \"regress_rt_it's\"",
    # passwords that are not literals: syntax errors echo the token
    "ALTER ROLE regress_rt_target PASSWORD {bare}",
    "ALTER ROLE regress_rt_target PASSWORD \"{bare}\"",
    "ALTER ROLE regress_rt_target PASSWORD {bare}'",
    # a long double-quoted token draws "identifier ... will be truncated" first
    "ALTER ROLE regress_rt_target PASSWORD \"{bare}" + "x" * 70 + "\"",
    "ALTER ROLE regress_rt_target PASSWORD E'{bare}\\u12'",
    "ALTER ROLE regress_rt_target PASSWORD U&'{bare}\\12'",
], ids=["block-comment", "line-comment", "quoted-ident", "missing-quoted-role",
        "ident-after", "unquoted", "double-quoted", "half-quoted", "long-double-quoted",
        "bad-escape", "bad-unicode-escape"])
def test_statement_shapes_never_log_the_password(admin: Conn, role_conn: Callable[..., Conn],
                                                 cluster: Cluster, shape: str) -> None:
    admin.execute("CREATE ROLE \"regress_rt_it's\" LOGIN")
    admin.execute("GRANT \"regress_rt_it's\" TO regress_rt_logger WITH ADMIN OPTION")
    conn = role_conn()
    pw = random_password()
    attempt(conn, shape.format(pw=sql.Literal(pw).as_string(conn), bare=pw))
    settle(cluster, conn)
    assert_not_logged(cluster, pw)


def test_nonstandard_strings_do_not_unmask(role_conn: Callable[..., Conn],
                                           cluster: Cluster) -> None:
    conn = role_conn()
    pw = random_password()
    conn.execute("SET escape_string_warning = off")
    conn.execute("SET standard_conforming_strings = off")
    # with standard_conforming_strings off, \' does not end the literal
    attempt(conn, f"ALTER ROLE regress_rt_target PASSWORD 'x\\' {pw}'")
    conn.execute("SET standard_conforming_strings = on")
    settle(cluster, conn)
    assert_not_logged(cluster, pw)


# ---- PL/pgSQL: RAISE, CONTEXT, several passwords, variables ----

def test_raise_notice_of_the_statement_before_running_it(role_conn: Callable[..., Conn],
                                                         cluster: Cluster) -> None:
    conn = role_conn()
    pw = random_password()
    # the DO body holds the password reversed, so only the NOTICE could show it
    conn.execute(sql.SQL(
        "DO $rt$ DECLARE s text := format('ALTER ROLE regress_rt_target PASSWORD %L', reverse({}));"
        " BEGIN RAISE NOTICE '%', s; EXECUTE s; END $rt$").format(sql.Literal(pw[::-1])))
    settle(cluster, conn)
    assert_not_logged(cluster, pw)


def test_failed_execute_context_with_an_apostrophe_in_the_role(
        role_conn: Callable[..., Conn], cluster: Cluster) -> None:
    conn = role_conn()
    pw = random_password()
    attempt(conn, sql.SQL(
        "DO $rt$ BEGIN EXECUTE format('ALTER ROLE %I PASSWORD %L', 'regress_rt_no''body', reverse({}));"
        " END $rt$").format(sql.Literal(pw[::-1])).as_string(conn))
    settle(cluster, conn)
    assert_not_logged(cluster, pw)


def test_every_password_of_a_transaction_is_scrubbed(admin: Conn, role_conn: Callable[..., Conn],
                                                     cluster: Cluster) -> None:
    admin.execute("CREATE ROLE regress_rt_second LOGIN")
    admin.execute("GRANT regress_rt_second TO regress_rt_logger WITH ADMIN OPTION")
    conn = role_conn()
    first, second = random_password(), random_password()
    attempt(conn, sql.SQL(
        "DO $rt$ DECLARE a text := reverse({}); b text := reverse({}); BEGIN"
        " EXECUTE format('ALTER ROLE regress_rt_target PASSWORD %L', a);"
        " EXECUTE format('ALTER ROLE regress_rt_second PASSWORD %L', b);"
        " RAISE EXCEPTION 'both set: % and %', a, b; END $rt$").format(
            sql.Literal(first[::-1]), sql.Literal(second[::-1])).as_string(conn))
    settle(cluster, conn)
    assert_not_logged(cluster, first, "the first password")
    assert_not_logged(cluster, second, "the second password")


def test_scrubbed_when_checking_is_off(admin: Conn, cluster: Cluster) -> None:
    admin.execute("CREATE ROLE regress_rt_off LOGIN")
    pw = random_password()
    admin.execute("SET pgwarden.password_check = off")
    try:
        admin.execute(sql.SQL(
            "DO $rt$ DECLARE p text := reverse({}); BEGIN"
            " EXECUTE format('ALTER ROLE regress_rt_off PASSWORD %L', p);"
            " RAISE NOTICE 'password is now %', p; END $rt$").format(sql.Literal(pw[::-1])))
    finally:
        admin.execute("RESET pgwarden.password_check")
    settle(cluster, admin)
    assert_not_logged(cluster, pw)


# ---- log_min_duration_statement: lines written after the commit ----

def test_duration_line_after_commit_is_scrubbed(role_conn: Callable[..., Conn],
                                                cluster: Cluster) -> None:
    conn = role_conn(log_statement="none", log_min_duration_statement="0")
    conn.execute("CREATE FUNCTION public.regress_rt_setpw(r text, p text) RETURNS void"
                 " LANGUAGE plpgsql AS $f$ BEGIN"
                 " EXECUTE format('ALTER ROLE %I PASSWORD %L', r, p); END $f$")
    pw = random_password()
    # simple protocol: "duration: ... statement: SELECT regress_rt_setpw(..., '<pw>')"
    # is written after the implicit transaction has committed
    conn.execute(sql.SQL("SELECT public.regress_rt_setpw('regress_rt_target', {})")
                 .format(sql.Literal(pw)))
    pw2 = random_password()
    with conn.transaction():
        conn.execute("SELECT public.regress_rt_setpw('regress_rt_target', %s)", [pw2])
        conn.execute("SELECT %s::text", [pw2])        # a later line of the same transaction
    settle(cluster, conn)
    assert_not_logged(cluster, pw)
    # (the bind line of the call itself is PostgreSQL's documented gap: it is
    # written before the function runs; the later statement must be scrubbed)
    log = cluster.read_log()[cluster.test_log_start:]
    later = [line for line in log.splitlines() if "::text" in line]
    assert later, "the later statement was not logged"
    assert not any(pw2 in line for line in later), "the later statement shows the password"


def test_parameters_of_a_password_function_are_masked(role_conn: Callable[..., Conn],
                                                      cluster: Cluster) -> None:
    conn = role_conn()
    conn.execute("CREATE FUNCTION public.regress_rt_set_password(r text, p text) RETURNS void"
                 " LANGUAGE plpgsql AS $f$ BEGIN"
                 " EXECUTE format('ALTER ROLE %I PASSWORD %L', r, p); END $f$")
    pw = random_password()
    # extended protocol: log_statement writes "execute ...: SELECT ...($1, $2)" and
    # DETAIL "parameters: $1 = ..., $2 = '<pw>'" before the function runs
    conn.execute("SELECT public.regress_rt_set_password(%s, %s)", ["regress_rt_target", pw],
                 prepare=True)
    settle(cluster, conn)
    assert_not_logged(cluster, pw)


def test_masked_statement_keeps_its_shape(admin: Conn, cluster: Cluster) -> None:
    pw = random_password()
    admin.execute(sql.SQL("CREATE ROLE regress_rt_shape LOGIN PASSWORD {}").format(sql.Literal(pw)))
    admin.execute(sql.SQL("DO $rt$ BEGIN EXECUTE format('ALTER ROLE regress_rt_shape PASSWORD %L',"
                          " {}); END $rt$").format(sql.Literal(random_password())))
    settle(cluster, admin)
    log = cluster.read_log()[cluster.test_log_start:]
    assert "statement: CREATE ROLE regress_rt_shape LOGIN PASSWORD '********'" in log
    assert "statement: DO $rt$********$rt$" in log
    assert_not_logged(cluster, pw)


def test_debug_print_parse_does_not_dump_password_literals(role_conn: Callable[..., Conn],
                                                           cluster: Cluster) -> None:
    """debug_print_parse is settable by anyone; query trees carry constants' bytes."""
    conn = role_conn()
    pw = random_password()
    conn.execute("SET debug_print_parse = on")
    conn.execute("SET debug_print_rewritten = on")
    conn.execute("SET debug_print_plan = on")
    conn.execute(sql.SQL("SELECT set_config('regress.password_rt', {}, false)").format(
        sql.Literal(pw)))
    conn.execute("RESET debug_print_parse")
    conn.execute("RESET debug_print_rewritten")
    conn.execute("RESET debug_print_plan")
    settle(cluster, conn)
    log = cluster.read_log()[cluster.test_log_start:]
    assert "(not shown: the statement mentions a password)" in log
    as_bytes = " ".join(str(b) for b in pw.encode())
    assert as_bytes not in log, "the password's bytes appear in a query-tree dump"
    assert_not_logged(cluster, pw)


@pytest.mark.parametrize("mode", ["prepared", "pipeline"])
def test_extended_protocol_statement_is_masked(role_conn: Callable[..., Conn], cluster: Cluster,
                                               mode: str) -> None:
    """Drivers that use the extended protocol (JDBC, psycopg with prepare or
    pipeline) are logged as "execute <name>: ...", not "statement: ..."."""
    conn = role_conn(log_min_duration_statement="0")
    pw = random_password()
    stmt = sql.SQL("ALTER ROLE regress_rt_target PASSWORD {}").format(sql.Literal(pw))
    if mode == "prepared":
        conn.execute(stmt, prepare=True)
    else:
        with conn.pipeline():
            conn.execute(stmt)
    settle(cluster, conn)
    log = cluster.read_log()[cluster.test_log_start:]
    assert "execute " in log and "PASSWORD '********'" in log
    assert_not_logged(cluster, pw)


def test_procedure_that_commits_keeps_scrubbing(role_conn: Callable[..., Conn],
                                                cluster: Cluster) -> None:
    conn = role_conn()
    conn.execute("CREATE PROCEDURE public.regress_rt_rotate(p text) LANGUAGE plpgsql AS $f$"
                 " BEGIN EXECUTE format('ALTER ROLE regress_rt_target PASSWORD %L', p);"
                 " COMMIT; RAISE NOTICE 'rotated to %', p; END $f$")
    try:
        pw = random_password()
        conn.execute(sql.SQL("CALL public.regress_rt_rotate(reverse({}))").format(
            sql.Literal(pw[::-1])))
        settle(cluster, conn)
        assert_not_logged(cluster, pw)
    finally:
        conn.execute("DROP PROCEDURE public.regress_rt_rotate(text)")


def test_trying_a_password_on_entropy_bits_is_not_logged(role_conn: Callable[..., Conn],
                                                         cluster: Cluster) -> None:
    """The README invites SELECT pgwarden.entropy_bits('...') on candidate passwords."""
    conn = role_conn(log_min_duration_statement="0")
    pw = random_password()
    conn.execute(sql.SQL("SELECT pgwarden.entropy_bits({})").format(sql.Literal(pw)))
    conn.execute("SELECT pgwarden.entropy_bits(%s)", [pw])
    conn.execute("SELECT pgwarden.entropy_bits(%s, ARRAY['acme'])", [pw], prepare=True)
    settle(cluster, conn)
    assert_not_logged(cluster, pw)
