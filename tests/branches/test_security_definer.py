"""No role gains privilege through pgwarden's SECURITY DEFINER functions or
through an administrator's routine operation (issue 15).

Each attack runs as a real client of the suite's server, as one of the
threat model's non-superuser roles: a plain login role, the owner of a
branch's database, a branch role, a ``pgwarden_admin`` member.  After each
attack the test checks that nothing outside the attacker's rights happened:
no ``rolsuper``, no new membership, no grant, no change to a protected
branch, no statement executed from stored text.

The list of SECURITY DEFINER functions and who may execute them is read from
the catalogs (``pg_proc``), so a new function cannot slip in unaudited.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from pgwarden.branches import Project
from pgwarden.sandbox import Cluster
from support.clusters import ClusterFactory

CONTROL_DB = "regress_control"
SHOP = "regress_sd_shop"
OWNER = "regress_sd_owner"      # owns SHOP; not a superuser
PLAIN = "regress_sd_plain"      # may connect to SHOP; nothing else
ADMIN = "regress_sd_admin"      # pgwarden_admin member with CREATEDB
PASSWORD = "pgw_Hy7rT3kWq9ZxN2vB8mLc"

# Hostile text for names and stored values: quotes of every kind, dollar
# quotes, statement separators, comments, and a statement that would make an
# attacker superuser if it ever ran.
ESCALATE = f"ALTER ROLE {PLAIN} SUPERUSER"
HOSTILE = [
    f"$q$, \"x$q$; {ESCALATE}; --\"",
    f"'; {ESCALATE}; --",
    f"\"; {ESCALATE}; --",
    f"$$; {ESCALATE}; --",
    f"x\\'; {ESCALATE}; --",
    f"a */ ; {ESCALATE}; /*",
    f"E'\\\\'; {ESCALATE}; --",
]


def q(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def supers(conn: psycopg.Connection[Any]) -> set[str]:
    return {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolsuper")}


def memberships(conn: psycopg.Connection[Any]) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in conn.execute(
        "SELECT r.rolname, m.rolname FROM pg_auth_members a"
        " JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member")}


def database_acls(conn: psycopg.Connection[Any]) -> dict[str, str | None]:
    return {r[0]: r[1] for r in conn.execute("SELECT datname, datacl::text FROM pg_database")}


@pytest.fixture
def roles(cluster: Cluster) -> Iterator[Cluster]:
    """OWNER owns SHOP (a registered branch), PLAIN can connect to it, ADMIN
    is a pgwarden_admin member; every database the test made is dropped."""
    with cluster.connect() as conn:
        for role, extra in ((OWNER, ""), (PLAIN, ""), (ADMIN, " CREATEDB")):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}" + extra).format(
                q(role), sql.Literal(PASSWORD)))
        conn.execute(sql.SQL("GRANT pgwarden_admin TO {}").format(q(ADMIN)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(q(SHOP), q(OWNER)))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(q(SHOP), q(PLAIN)))
    with cluster.connect(SHOP, user=OWNER) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 100) g")
    with cluster.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.register_branch(%s)", [SHOP])
    yield cluster
    with cluster.connect(CONTROL_DB) as conn:
        conn.execute("SELECT pgwarden.unprotect_branch(name) FROM pgwarden.branch WHERE protected")
        for (name,) in conn.execute(
                "SELECT name FROM pgwarden.branch b WHERE b.database_oid <>"
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
                " ORDER BY created_at DESC").fetchall():
            Project(cluster.local_dsn(CONTROL_DB)).delete_branch(name)
        for (db,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'regress\\_sd%%'").fetchall():
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(q(db)))


# ---------------------------------------------------------------------------
# The reported escalation: a stored setting re-issued as SQL by branch create
# ---------------------------------------------------------------------------

def store_role_setting(cluster: Cluster, value: str, *, role: str = PLAIN,
                       guc: str = "search_path") -> None:
    """The attacker stores a crafted value for itself in SHOP, the way the
    report did: set_config() (no flattening) then SET ... FROM CURRENT."""
    with cluster.connect(SHOP, user=role) as conn:
        conn.execute("SELECT set_config(%s, %s, false)", [guc, value])
        conn.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} FROM CURRENT").format(
            q(role), q(SHOP), q(guc)))


def settings_of(conn: psycopg.Connection[Any], db: str) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in conn.execute(
        "SELECT COALESCE(r.rolname, ''), cfg FROM pg_db_role_setting s"
        " LEFT JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) cfg"
        " WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = %s)", [db])}


@pytest.mark.parametrize("strategy", ["template", "online"])
def test_crafted_search_path_does_not_run_on_branch_create(roles: Cluster, strategy: str) -> None:
    """The report's attack: a dollar-quote tag passed the "identifiers only"
    pattern and ALTER ROLE ... SUPERUSER ran as the extension's owner."""
    store_role_setting(roles, HOSTILE[0])
    with roles.connect(CONTROL_DB) as admin:
        before = settings_of(admin, SHOP)
        Project(roles.local_dsn(CONTROL_DB)).create_branch(
            "regress_sd_dev", SHOP, strategy=strategy)
        assert PLAIN not in supers(admin)
        # The child has exactly the parent's settings, byte for byte.
        assert settings_of(admin, "regress_sd_dev") == before


def as_list_element(value: str) -> str:
    """value as one double-quoted element of a list setting (search_path)."""
    return '"' + value.replace('"', '""') + '", public'


@pytest.mark.parametrize("value", HOSTILE)
def test_every_hostile_setting_is_copied_verbatim_and_never_run(roles: Cluster, value: str) -> None:
    # Role settings of the attacker: a list setting and a plain one.
    store_role_setting(roles, as_list_element(value))
    store_role_setting(roles, value, guc="application_name")
    # ALTER DATABASE ... SET by the database's owner, the same two kinds.
    with roles.connect(SHOP, user=OWNER) as conn:
        for guc, v in (("search_path", as_list_element(value)), ("application_name", value)):
            conn.execute("SELECT set_config(%s, %s, false)", [guc, v])
            conn.execute(sql.SQL("ALTER DATABASE {} SET {} FROM CURRENT").format(q(SHOP), q(guc)))
    # A placeholder of an extension that is not loaded (a superuser's).
    with roles.connect() as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET regress_sd.x = {}").format(
            q(SHOP), sql.Literal(value)))
    with roles.connect(CONTROL_DB) as admin:
        before = settings_of(admin, SHOP)
        assert len(before) == 5
        project = Project(roles.local_dsn(CONTROL_DB))
        project.create_branch("regress_sd_dev", SHOP, strategy="template")
        assert settings_of(admin, "regress_sd_dev") == before
        project.reset_branch("regress_sd_dev", strategy="template")
        assert settings_of(admin, "regress_sd_dev") == before
        assert PLAIN not in supers(admin)


def test_branch_create_by_an_admin_member_gives_nobody_superuser(roles: Cluster) -> None:
    store_role_setting(roles, HOSTILE[0])
    with roles.connect(CONTROL_DB) as admin:
        admin.execute(sql.SQL("GRANT {} TO {}").format(q(OWNER), q(ADMIN)))
        before_supers = supers(admin)
        Project(roles.local_dsn(CONTROL_DB, user=ADMIN)).create_branch(
            "regress_sd_dev", SHOP, strategy="template")
        assert supers(admin) == before_supers


# ---------------------------------------------------------------------------
# Code of the parent's roles run by the helper's online copy
# ---------------------------------------------------------------------------

ESCALATING_FUNCTION = f"""
CREATE FUNCTION public.regress_check(x int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {OWNER} SUPERUSER';
    END IF;
    RETURN true;
END $f$
"""

CODE_IN_ROWS = {
    "check": "CREATE TABLE t (x int CHECK (public.regress_check(x)))",
    "generated": "CREATE TABLE t (x int, y boolean GENERATED ALWAYS AS (public.regress_check(x)) STORED)",
    "domain": "CREATE DOMAIN d AS int CHECK (public.regress_check(VALUE)); CREATE TABLE t (x d)",
}


@pytest.mark.parametrize("kind", sorted(CODE_IN_ROWS))
def test_online_copy_never_runs_the_parent_owners_code(roles: Cluster, kind: str) -> None:
    """pg_restore evaluates CHECK constraints, domain checks and generated
    columns for each row it loads, as the role running it (here the
    superuser): an owner's function would make the owner superuser."""
    with roles.connect(SHOP, user=OWNER) as conn:
        conn.execute(ESCALATING_FUNCTION)
        conn.execute(CODE_IN_ROWS[kind])
        conn.execute("INSERT INTO t (x) VALUES (1)")
    project = Project(roles.local_dsn(CONTROL_DB))
    with pytest.raises(RuntimeError, match="would run functions of other roles") as info:
        project.create_branch("regress_sd_dev", SHOP, strategy="online")
    assert "public.regress_check(integer)" in str(info.value)
    with roles.connect(CONTROL_DB) as admin:
        assert OWNER not in supers(admin)
        assert admin.execute("SELECT count(*) FROM pg_database WHERE datname = 'regress_sd_dev'"
                             ).fetchone() == (0,)
    # A template copy runs nothing and is still available.
    project.create_branch("regress_sd_dev", SHOP, strategy="template")
    with roles.connect(CONTROL_DB) as admin:
        assert OWNER not in supers(admin)


def test_online_copy_of_the_owners_own_code_by_the_owner_is_allowed(roles: Cluster) -> None:
    """The rule is about privilege: code owned by the copying role itself
    runs with no more than its own rights."""
    with roles.connect(CONTROL_DB) as admin:
        admin.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(q(OWNER)))
        admin.execute(sql.SQL("GRANT pgwarden_admin TO {}").format(q(OWNER)))
    with roles.connect(SHOP, user=OWNER) as conn:
        conn.execute(ESCALATING_FUNCTION)
        conn.execute(CODE_IN_ROWS["check"])
        conn.execute("INSERT INTO t (x) VALUES (1)")
    Project(roles.local_dsn(CONTROL_DB, user=OWNER)).create_branch(
        "regress_sd_dev", SHOP, strategy="online")
    with roles.connect("regress_sd_dev") as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_parent_search_path_cannot_hijack_the_helpers_queries(roles: Cluster) -> None:
    """The owner of the parent sets the database's search_path to a schema of
    its own before pg_catalog, with an "=" for oid that escalates: the
    helper's snapshot connection must never call it."""
    with roles.connect(SHOP, user=OWNER) as conn:
        conn.execute("CREATE SCHEMA evil")
        conn.execute(f"""
            CREATE FUNCTION evil.oideq(a oid, b oid) RETURNS boolean LANGUAGE plpgsql AS $f$
            BEGIN
                IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
                    EXECUTE 'ALTER ROLE {OWNER} SUPERUSER';
                END IF;
                RETURN a OPERATOR(pg_catalog.=) b;
            END $f$""")
        conn.execute("CREATE OPERATOR evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = evil.oideq)")
        conn.execute(sql.SQL("ALTER DATABASE {} SET search_path = evil, pg_catalog").format(q(SHOP)))
    Project(roles.local_dsn(CONTROL_DB)).create_branch("regress_sd_dev", SHOP, strategy="online")
    with roles.connect(CONTROL_DB) as admin:
        assert OWNER not in supers(admin)


# ---------------------------------------------------------------------------
# Every SECURITY DEFINER function, read from the catalog
# ---------------------------------------------------------------------------

#: What a pgwarden_admin member may execute; nobody else (but superusers).
ADMIN_FUNCTIONS = {
    "_arm_template_copy(text)",
    "_begin_project_delete()", "_copy_source(text)",
    "_finish_create(text,text,name,pg_lsn,text)", "_finish_delete(text)",
    "check_connection(inet,name,name)",
    "create_endpoint(text,text,text,integer)", "drop_endpoint(text)",
    "ip_allow_add(text[],name,text)", "ip_allow_protected_only(boolean)",
    "ip_allow_remove(text[],name,boolean)", "ip_allow_reset(boolean)", "policy_status()",
    "protect_branch(text)", "readonly_refusals()", "register_branch(name,text,text)",
    "resume_endpoint(text)",
    "set_endpoint_limit(text,integer)", "suspend_endpoint(text)", "sync_branches()",
    "unprotect_branch(text)",
    # issue 13: the gate's counters (the view pgwarden.gate_stats reads _gate_stats)
    "_gate_stats()", "gate_stats_reset()", "_endpoint_sessions()",
    # issue 9: branch operations one at a time and recoverable; project delete
    "_lock_branch(text,boolean)", "_unlock_branch(text,boolean)", "_branch_lock_key(text)",
    "_branch_lock_holder(text)", "_begin_operation(text,text,name)",
    "_reset_swapped(text,name,pg_lsn,text)", "_create_swapped(text)", "_end_operation(text)",
    "_abort_operation(text)", "_operation_leftover(text)", "_project_delete_plan(boolean)",
    "_unregister_branch(text)",
}
#: SECURITY DEFINER functions that only the extension's own code calls: the
#: 0.1.0 helper steps that bypass the operation record, no longer granted to
#: pgwarden_admin (red-team, third pass; _begin_operation, _abort_operation
#: and _reset_swapped call them).
INTERNAL_DEFINERS = {"_abort_change(text)", "_begin_change(text,text)",
                     "_finish_reset(text,name,pg_lsn)"}
#: What every role may execute.
PUBLIC_FUNCTIONS = {"entropy_bits(text,text[])", "generate_password(integer)",
                    "readonly_session()"}

FUNCTIONS_QUERY = """
SELECT p.oid, p.proname || '(' || pg_catalog.array_to_string(ARRAY(
           SELECT pg_catalog.format_type(t, NULL) FROM pg_catalog.unnest(p.proargtypes) t), ',')
       || ')' AS signature,
       p.prosecdef, p.proconfig
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
   AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgwarden'
"""


def extension_functions(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, bool, list[str] | None]]:
    return {r[1].replace(", ", ","): (r[0], r[2], r[3]) for r in conn.execute(FUNCTIONS_QUERY)}


def test_every_security_definer_function_pins_its_search_path(admin: psycopg.Connection[Any]) -> None:
    functions = extension_functions(admin)
    definers = {sig for sig, (_, secdef, _) in functions.items() if secdef}
    assert definers, "the catalog query found no SECURITY DEFINER function"
    # A new SECURITY DEFINER function must be audited (added here) first.
    assert definers <= ADMIN_FUNCTIONS | INTERNAL_DEFINERS
    for sig in definers:
        assert functions[sig][2] == ["search_path=pg_catalog, pg_temp"], sig


def test_who_may_execute_what(roles: Cluster) -> None:
    """Read from the catalog, for each role of the threat model: internal
    helpers are callable by no one but the extension's own code (and
    superusers); admin entry points by pgwarden_admin members only."""
    with roles.connect(CONTROL_DB) as admin:
        functions = extension_functions(admin)
        for role, allowed in ((PLAIN, PUBLIC_FUNCTIONS), (OWNER, PUBLIC_FUNCTIONS),
                              (ADMIN, PUBLIC_FUNCTIONS | ADMIN_FUNCTIONS)):
            may = {sig for sig, (oid, _, _) in functions.items()
                   if admin.execute("SELECT has_function_privilege(%s, %s::oid, 'EXECUTE')",
                                    [role, oid]).fetchone() == (True,)}
            assert may == allowed, role


def as_admin(cluster: Cluster) -> psycopg.Connection[Any]:
    return cluster.connect(CONTROL_DB, user=ADMIN)


@pytest.mark.parametrize("call, sqlstate", [
    # An existing database this session did not create: refused.
    ("SELECT * FROM pgwarden._finish_create('regress_sd_x', %(shop)s, 'postgres', NULL, 'template')",
     "42501"),
    ("SELECT * FROM pgwarden._finish_create('regress_sd_x', %(shop)s, %(control)s, NULL, 'template')",
     "42501"),
    ("SELECT * FROM pgwarden._finish_create('regress_sd_x', %(shop)s, 'template1', NULL, 'template')",
     "42501"),
    # The parent's own database: already a branch.
    ("SELECT * FROM pgwarden._finish_create('regress_sd_x', %(shop)s, %(shop)s, NULL, 'template')",
     "42710"),
    # Not marked by _begin_change, so protections were never checked.  (Since
    # the red-team's third pass _finish_reset is the extension's own: 0.2.0
    # reaches it through _reset_swapped only.)
    ("SELECT pgwarden._finish_reset(%(shop)s, 'postgres', NULL)", "42501"),
    ("SELECT pgwarden._finish_delete(%(shop)s)", "55000"),
    # Hostile names are names, never SQL.
    ("SELECT * FROM pgwarden._finish_create(%(hostile)s, %(shop)s, %(hostile)s, NULL, 'template')",
     "3D000"),
    ("SELECT pgwarden._finish_delete(%(hostile)s)", "42704"),
    ("SELECT pgwarden.register_branch(%(hostile)s)", "3D000"),
    ("SELECT pgwarden.protect_branch(%(hostile)s)", "42704"),
    ("SELECT pgwarden.create_endpoint(%(shop)s, %(hostile)s)", None),
])
def test_admin_member_cannot_steer_the_helper_steps(roles: Cluster, call: str,
                                                    sqlstate: str | None) -> None:
    args = {"shop": SHOP, "control": CONTROL_DB, "hostile": HOSTILE[1]}
    call = call.replace("%(shop)s", "%(shop)s::text").replace("%(hostile)s", "%(hostile)s::text")
    with roles.connect(CONTROL_DB) as admin:
        before = (supers(admin), memberships(admin), database_acls(admin),
                  admin.execute("SELECT * FROM pgwarden.branch ORDER BY name").fetchall())
    with as_admin(roles) as conn:
        if sqlstate is None:
            conn.execute(call, args)          # allowed, and the name is stored as data
        else:
            with pytest.raises(psycopg.Error) as info:
                conn.execute(call, args)
            assert info.value.diag.sqlstate == sqlstate, info.value.diag.message_primary
    with roles.connect(CONTROL_DB) as admin:
        assert supers(admin) == before[0]
        assert memberships(admin) == before[1]
        assert database_acls(admin) == before[2]
        if sqlstate is not None:
            assert admin.execute("SELECT * FROM pgwarden.branch ORDER BY name").fetchall() == before[3]


def test_admin_member_cannot_copy_a_protected_branch(roles: Cluster) -> None:
    """Branch roles act with the parent roles' privileges: only a superuser
    may have them made, at every step of the copy."""
    with roles.connect(CONTROL_DB) as admin:
        admin.execute("SELECT pgwarden.protect_branch(%s)", [SHOP])
    with as_admin(roles) as conn:
        for call in ("SELECT pgwarden._arm_template_copy(%s)",
                     "SELECT * FROM pgwarden._copy_source(%s)"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(call, [SHOP])


def test_plain_owner_and_admin_roles_cannot_call_internal_helpers(roles: Cluster) -> None:
    with roles.connect(CONTROL_DB) as admin:
        internal = [sig for sig, (_, secdef, _) in extension_functions(admin).items()
                    if sig not in ADMIN_FUNCTIONS | PUBLIC_FUNCTIONS]
    assert "_copy_settings(oid,oid)" in internal and "_set_role_password(oid,text)" in internal
    for role in (PLAIN, OWNER, ADMIN):
        with roles.connect(CONTROL_DB, user=role) as conn:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute("SELECT pgwarden._copy_settings(1, 2)")
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute("SELECT pgwarden._set_label('pg_database'::regclass, 1, 'protected:x')")


# ---------------------------------------------------------------------------
# Every dynamic statement, fed hostile names
# ---------------------------------------------------------------------------

def test_hostile_names_travel_through_every_dynamic_statement(roles: Cluster) -> None:
    """Database, role, branch names and comments full of quotes, dollar
    quotes and separators go through every statement pgwarden composes
    (CREATE ROLE / GRANT / REVOKE / COMMENT / DROP OWNED / DROP ROLE of the
    branch credentials, the database ACL and comment copy, the reset's
    GRANT CONNECT) and come out as the same names, with nothing executed."""
    parent = 'regress_sd_p"$q$;' + ESCALATE[:20]
    owner = "regress_sd_o'$$;--"
    reader = 'regress_sd_r";/*'
    branch = "regress_sd_b'$x$\";--"
    comment = f"$q$'; {ESCALATE}; --"
    with roles.connect() as conn:
        for role in (owner, reader):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                q(role), sql.Literal(PASSWORD)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(q(parent), q(owner)))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(q(parent)))
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {} WITH GRANT OPTION")
                     .format(q(parent), q(reader)))
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(q(parent), sql.Literal(comment)))
    with roles.connect(parent, user=owner) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute(sql.SQL("GRANT SELECT ON t TO {}").format(q(reader)))
    with roles.connect(CONTROL_DB) as admin:
        admin.execute("SELECT pgwarden.register_branch(%s)", [parent])
        admin.execute("SELECT pgwarden.protect_branch(%s)", [parent])
        before = supers(admin)
    project = Project(roles.local_dsn(CONTROL_DB))
    created = project.create_branch(branch, parent, database="regress_sd_child",
                                    strategy="template")
    assert {c.parent_role for c in created.credentials} == {owner, reader}
    project.reset_branch(branch, strategy="template")
    with roles.connect(CONTROL_DB) as admin:
        assert supers(admin) == before
        names = {r[0]: r[1] for r in admin.execute(
            "SELECT parent_role, role FROM pgwarden.branch_roles WHERE branch = %s", [branch])}
        assert set(names) == {owner, reader}
        for parent_role, role in names.items():
            assert admin.execute("SELECT has_database_privilege(%s, 'regress_sd_child', 'CONNECT')",
                                 [role]).fetchone() == (True,)
            assert admin.execute("SELECT shobj_description(%s::regrole, 'pg_authid')",
                                 [sql.Identifier(role).as_string(admin)]).fetchone() == (
                f"pgwarden branch role: {parent_role} in branch {branch}",)
        assert admin.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database"
                             " WHERE datname = 'regress_sd_child'").fetchone() == (comment,)
        # The child's ACL holds the parent's grants to others, and CONNECT for
        # each branch role (the owner's entries belong to its branch role).
        acl = {db: set(admin.execute(
            "SELECT a.grantee::regrole::text, a.privilege_type, a.is_grantable FROM pg_database d,"
            " aclexplode(d.datacl) a WHERE d.datname = %s AND a.grantee <> d.datdba",
            [db]).fetchall()) for db in (parent, "regress_sd_child")}
        assert acl[parent] <= acl["regress_sd_child"]
    project.delete_branch(branch)
    with roles.connect(CONTROL_DB) as admin:
        assert admin.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)",
                             [list(names.values())]).fetchone() == (0,)
        admin.execute("SELECT pgwarden.unprotect_branch(%s)", [parent])
    project.delete_branch(parent)
    with roles.connect(CONTROL_DB) as admin:
        for role in (owner, reader):
            admin.execute(sql.SQL("DROP ROLE {}").format(q(role)))


# ---------------------------------------------------------------------------
# Catalog queries pgwarden runs inside hooks and its worker
# ---------------------------------------------------------------------------

def escalating_oid_equality(schema: str, who: str) -> list[str]:
    """An "=" for (oid, oid) that makes `who` superuser when a superuser
    calls it and always answers false (so a protection check finds nothing)."""
    return [
        f"CREATE SCHEMA {schema}",
        f"""CREATE FUNCTION {schema}.oideq(a oid, b oid) RETURNS boolean LANGUAGE plpgsql
            SET search_path = pg_catalog AS $f$
            BEGIN
                IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
                    EXECUTE 'ALTER ROLE {who} SUPERUSER';
                END IF;
                RETURN false;
            END $f$""",
        f"CREATE OPERATOR {schema}.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = {schema}.oideq)",
        f"""CREATE FUNCTION {schema}.nameeq(a name, b name) RETURNS boolean LANGUAGE sql
            AS $f$ SELECT {schema}.oideq(0, 0) $f$""",
        f"CREATE OPERATOR {schema}.= (LEFTARG = name, RIGHTARG = name, FUNCTION = {schema}.nameeq)",
        f"""CREATE FUNCTION {schema}.textlike(a text, b text) RETURNS boolean LANGUAGE sql
            AS $f$ SELECT {schema}.oideq(0, 0) $f$""",
        f"CREATE OPERATOR {schema}.~~ (LEFTARG = text, RIGHTARG = text, FUNCTION = {schema}.textlike)",
    ]


def test_protection_checks_ignore_the_callers_operators(private_cluster: ClusterFactory) -> None:
    """A superuser (SQL only) puts a schema with its own "=" and LIKE before
    pg_catalog and drops the extension or the control database while a branch
    is protected: the checks must still see the protected branch."""
    c = private_cluster(tls=False)
    with c.connect() as conn:
        conn.execute("CREATE DATABASE regress_ctl")
        conn.execute("CREATE DATABASE regress_shop")
    with c.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden")
        conn.execute("SELECT pgwarden.register_branch('regress_shop')")
        conn.execute("SELECT pgwarden.protect_branch('regress_shop')")
        for stmt in escalating_oid_equality("evil", "postgres"):
            conn.execute(stmt)
        conn.execute("SET search_path = evil, pg_catalog")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("DROP EXTENSION pgwarden CASCADE")
        assert info.value.diag.sqlstate == "PW001"
    with c.connect() as conn:
        conn.execute("SET search_path = evil, pg_catalog")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("DROP DATABASE regress_ctl")
        assert info.value.diag.sqlstate == "PW001"


def test_policy_worker_ignores_the_control_database_owners_search_path(
        private_cluster: ClusterFactory) -> None:
    """The owner of the control database (not a superuser) sets its
    search_path to a schema of its own: the policy worker, a superuser, must
    never call the owner's operators."""
    c = private_cluster(tls=False)
    with c.connect() as conn:
        conn.execute("CREATE ROLE regress_ctl_owner LOGIN")
        conn.execute("CREATE DATABASE regress_ctl OWNER regress_ctl_owner")
    with c.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden")
    with c.connect("regress_ctl", user="regress_ctl_owner") as conn:
        for stmt in escalating_oid_equality("evil", "regress_ctl_owner"):
            conn.execute(stmt)
        conn.execute("ALTER DATABASE regress_ctl SET search_path = evil, pg_catalog")
    c.restart()
    with c.connect("regress_ctl") as conn:
        conn.execute("SET search_path = pg_catalog")   # the test's own queries
        conn.execute("SELECT pgwarden.ip_allow_add(ARRAY['127.0.0.1'])")
        deadline = time.monotonic() + 5
        while conn.execute("SELECT state FROM pgwarden.policy_status()").fetchone() != ("loaded",):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_ctl_owner'"
                            ).fetchone() == (False,)
