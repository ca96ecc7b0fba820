"""The extension and its protections cannot be removed by name tricks, and a
protected branch cannot be replaced (issue 8, items 3 and 4).

The statements are not hand-picked: every member object of the extension is
read from pg_depend (with its schema, its tables' triggers and indexes), and
for each one the DDL statements that could remove, change or detach it are
generated from its type and identity (pg_identify_object).  They run in a
private cluster, as a superuser using SQL only (the strongest attacker of
the threat model), while a branch is protected; afterwards the extension
must be exactly as it was and the protected branch still protected.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgwarden.sandbox import Cluster
from support.clusters import ClusterFactory

PW001 = "PW001"

MEMBERS_QUERY = """
SELECT (pg_identify_object(d.classid, d.objid, d.objsubid)).type,
       (pg_identify_object(d.classid, d.objid, d.objsubid)).identity
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgwarden')
 ORDER BY 1, 2
"""

STATE_QUERY = """
SELECT n.nspname, e.extversion, r.rolname,
       (SELECT array_agg(t.tgname || ':' || t.tgenabled::text ORDER BY t.tgname)
          FROM pg_trigger t JOIN pg_depend d ON d.objid = t.tgrelid
         WHERE d.refobjid = e.oid AND d.deptype = 'e' AND NOT t.tgisinternal),
       (SELECT array_agg(c.relname || ':' || c.relowner::regrole::text || ':' || c.relrowsecurity::text
                         ORDER BY c.relname)
          FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
         WHERE d.refobjid = e.oid AND d.deptype = 'e'),
       (SELECT count(*) FROM pg_rewrite w JOIN pg_depend d ON d.objid = w.ev_class
         WHERE d.refobjid = e.oid AND d.deptype = 'e' AND w.rulename <> '_RETURN'),
       (SELECT array_agg(p.proname || ':' || p.prosecdef || ':' || md5(p.prosrc)
                         || ':' || coalesce(p.proconfig::text, '') ORDER BY p.oid)
          FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
         WHERE d.refobjid = e.oid AND d.deptype = 'e'),
       (SELECT array_agg(c.relname || ':' || coalesce(c.relacl::text, '') ORDER BY c.relname)
          FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
         WHERE d.refobjid = e.oid AND d.deptype = 'e')
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
  JOIN pg_roles r ON r.oid = e.extowner
 WHERE e.extname = 'pgwarden'
"""


def attacks_for(conn: psycopg.Connection[Any]) -> list[str]:
    """The DDL that could remove, change or detach each object of the
    extension, generated from the catalog."""
    out: list[str] = [
        "DROP EXTENSION pgwarden", "DROP EXTENSION pgwarden CASCADE",
        "DROP OWNED BY postgres", "DROP OWNED BY postgres CASCADE",
        "REASSIGN OWNED BY postgres TO regress_x",
        "ALTER EXTENSION pgwarden SET SCHEMA public",
    ]
    schema = conn.execute("SELECT extnamespace::regnamespace::text FROM pg_extension"
                          " WHERE extname = 'pgwarden'").fetchone()[0]
    out += [f"ALTER SCHEMA {schema} RENAME TO regress_hidden",
            f"DROP SCHEMA {schema} CASCADE",
            f"ALTER SCHEMA {schema} OWNER TO regress_x"]
    for kind, ident in conn.execute(MEMBERS_QUERY).fetchall():
        if kind == "table":
            out += [f"DROP TABLE {ident} CASCADE", f"ALTER TABLE {ident} RENAME TO regress_t",
                    f"TRUNCATE {ident} CASCADE", f"ALTER TABLE {ident} DISABLE TRIGGER ALL",
                    f"ALTER TABLE {ident} DISABLE TRIGGER USER",
                    f"ALTER TABLE {ident} OWNER TO regress_x",
                    f"ALTER TABLE {ident} SET SCHEMA public",
                    f"ALTER TABLE {ident} ENABLE ROW LEVEL SECURITY",
                    f"ALTER TABLE {ident} ADD COLUMN regress_c int",
                    f"ALTER EXTENSION pgwarden DROP TABLE {ident}",
                    f"CREATE RULE regress_r AS ON DELETE TO {ident} DO INSTEAD NOTHING",
                    (f"CREATE TRIGGER regress_tr BEFORE DELETE ON {ident}"
                     " FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()"),
                    f"CREATE POLICY regress_p ON {ident} USING (false)",
                    f"GRANT ALL ON {ident} TO PUBLIC"]
            for (trigger,) in conn.execute(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass"
                    " AND NOT tgisinternal", [ident]).fetchall():
                t = sql.Identifier(trigger).as_string(conn)
                out += [f"DROP TRIGGER {t} ON {ident}",
                        f"ALTER TABLE {ident} DISABLE TRIGGER {t}",
                        f"ALTER TRIGGER {t} ON {ident} RENAME TO regress_t"]
            for (index,) in conn.execute(
                    "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass",
                    [ident]).fetchall():
                out += [f"DROP INDEX {index} CASCADE", f"ALTER INDEX {index} RENAME TO regress_i"]
        elif kind == "view":
            out += [f"DROP VIEW {ident} CASCADE", f"ALTER VIEW {ident} RENAME TO regress_v",
                    f"ALTER VIEW {ident} OWNER TO regress_x",
                    f"ALTER EXTENSION pgwarden DROP VIEW {ident}"]
        elif kind == "function":
            out += [f"DROP FUNCTION {ident} CASCADE", f"ALTER FUNCTION {ident} RENAME TO regress_f",
                    f"ALTER FUNCTION {ident} SECURITY INVOKER",
                    f"ALTER FUNCTION {ident} RESET ALL",
                    f"ALTER FUNCTION {ident} OWNER TO regress_x",
                    f"ALTER FUNCTION {ident} SET SCHEMA public",
                    f"ALTER EXTENSION pgwarden DROP FUNCTION {ident}"]
        elif kind == "type":
            out.append(f"DROP TYPE {ident} CASCADE")
            # From PostgreSQL 17 the array types of the extension's types are
            # members too; ALTER TYPE names no array type (its element's rename
            # renames it).
            if not ident.endswith("[]"):
                out.append(f"ALTER TYPE {ident} RENAME TO regress_ty")
    return out


@pytest.fixture(scope="module")
def private(module_cluster: ClusterFactory) -> Cluster:
    """A cluster of this module's own: a successful attack must not take the
    suite's extension with it."""
    c = module_cluster(tls=False)
    with c.connect() as conn:
        conn.execute("CREATE ROLE regress_x LOGIN")
        conn.execute("CREATE ROLE regress_owner LOGIN")
        conn.execute("CREATE DATABASE regress_ctl")
        conn.execute("CREATE DATABASE regress_shop OWNER regress_owner")
    with c.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden")
        conn.execute("SELECT pgwarden.register_branch('regress_shop')")
        conn.execute("SELECT pgwarden.protect_branch('regress_shop')")
    return c


def test_no_ddl_removes_or_changes_pgwardens_objects_while_a_branch_is_protected(
        private: Cluster) -> None:
    with private.connect("regress_ctl") as conn:
        before = conn.execute(STATE_QUERY).fetchone()
        members = conn.execute(MEMBERS_QUERY).fetchall()
        attacks = attacks_for(conn)
        assert len(attacks) > 200, len(attacks)
        outcomes: dict[str, str] = {}
        for stmt in attacks:
            try:
                conn.execute(stmt)
                outcomes[stmt] = "succeeded"
            except psycopg.Error as exc:
                outcomes[stmt] = exc.diag.sqlstate or "?"
        succeeded = [s for s, o in outcomes.items() if o == "succeeded"]
        assert not succeeded
        # Most are refused by pgwarden itself; the rest by PostgreSQL's own
        # rules (a non-relocatable extension, an index a constraint needs).
        others = {s: o for s, o in outcomes.items() if o != PW001}
        assert set(others.values()) <= {"0A000", "2BP01", "42809"}, others
        assert conn.execute(STATE_QUERY).fetchone() == before
        assert conn.execute(MEMBERS_QUERY).fetchall() == members
    with private.connect() as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("DROP DATABASE regress_shop")
        assert info.value.diag.sqlstate == PW001


def test_the_reported_paths(private: Cluster) -> None:
    """The two reported sequences, statement by statement."""
    with private.connect("regress_ctl") as conn:
        for stmt, sqlstate in (("ALTER SCHEMA pgwarden RENAME TO x", PW001),
                               ("ALTER EXTENSION pgwarden DROP TABLE pgwarden.branch", PW001),
                               # still a member, so PostgreSQL itself refuses
                               ("DROP TABLE pgwarden.branch CASCADE", "2BP01")):
            with pytest.raises(psycopg.Error) as info:
                conn.execute(stmt)
            assert info.value.diag.sqlstate == sqlstate, stmt
        # A transaction that tries both halves keeps nothing.
        with pytest.raises(psycopg.Error), conn.transaction():
            conn.execute("ALTER SCHEMA pgwarden RENAME TO x")
            conn.execute("DROP SCHEMA x CASCADE")
        assert conn.execute("SELECT extnamespace::regnamespace::text FROM pg_extension"
                            " WHERE extname = 'pgwarden'").fetchone() == ("pgwarden",)


def test_update_in_place_still_works_while_protected(private_cluster: ClusterFactory) -> None:
    """The guard is by OID and spares pgwarden's own scripts: installed at
    0.1.0 from the released script, protected, updated to 0.2.0."""
    c = private_cluster(tls=False)
    with c.connect() as conn:
        conn.execute("CREATE DATABASE regress_ctl")
        conn.execute("CREATE DATABASE regress_shop")
    with c.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden VERSION '0.1.0'")
        conn.execute("SELECT pgwarden.register_branch('regress_shop')")
        conn.execute("SELECT pgwarden.protect_branch('regress_shop')")
        conn.execute("ALTER EXTENSION pgwarden UPDATE")
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgwarden'"
                            ).fetchone() == ("0.2.0",)
        with pytest.raises(psycopg.Error) as info:
            conn.execute("DROP EXTENSION pgwarden CASCADE")
        assert info.value.diag.sqlstate == PW001


def test_without_a_protected_branch_the_extension_can_be_dropped(private: Cluster) -> None:
    with private.connect() as conn:
        conn.execute("CREATE DATABASE regress_ctl2")
    with private.connect("regress_ctl") as conn:
        conn.execute("SELECT pgwarden.unprotect_branch('regress_shop')")
        try:
            conn.execute("ALTER TABLE pgwarden.branch DISABLE TRIGGER refuse_protected_delete")
            conn.execute("ALTER TABLE pgwarden.branch ENABLE TRIGGER refuse_protected_delete")
            conn.execute("DROP EXTENSION pgwarden")
            conn.execute("CREATE EXTENSION pgwarden")
            conn.execute("SELECT pgwarden.register_branch('regress_shop')")
        finally:
            conn.execute("SELECT pgwarden.protect_branch('regress_shop')")


# ---------------------------------------------------------------------------
# Item 4: a protected branch cannot be replaced
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("user", ["regress_owner", "postgres"])
def test_a_protected_branch_cannot_be_renamed(private: Cluster, user: str) -> None:
    """Renamed, "shop" could be created again and every connection string for
    it would reach an impostor."""
    with private.connect(user=user) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("ALTER DATABASE regress_shop RENAME TO regress_shop_hidden")
        assert info.value.diag.sqlstate == PW001
        assert "RENAME" in (info.value.diag.message_primary or "")
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'regress_shop'"
                            ).fetchone() == (1,)


def test_ordinary_hardening_of_a_protected_branch_stays_allowed(private: Cluster) -> None:
    with private.connect(user="regress_owner") as conn:
        conn.execute("REVOKE CONNECT ON DATABASE regress_shop FROM PUBLIC")
        conn.execute("ALTER DATABASE regress_shop CONNECTION LIMIT 50")
        conn.execute("ALTER DATABASE regress_shop CONNECTION LIMIT -1")
        conn.execute("GRANT CONNECT ON DATABASE regress_shop TO PUBLIC")


def test_an_unprotected_branch_can_be_renamed(private: Cluster) -> None:
    with private.connect() as conn:
        conn.execute("CREATE DATABASE regress_free")
    with private.connect("regress_ctl") as conn:
        conn.execute("SELECT pgwarden.register_branch('regress_free')")
    with private.connect() as conn:
        conn.execute("ALTER DATABASE regress_free RENAME TO regress_free2")
    with private.connect("regress_ctl") as conn:
        assert conn.execute("SELECT database FROM pgwarden.branches WHERE name = 'regress_free'"
                            ).fetchone() == ("regress_free2",)


def test_replica_mode_does_not_silence_the_triggers(private: Cluster) -> None:
    with private.connect("regress_ctl") as conn:
        conn.execute("SET session_replication_role = replica")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("DELETE FROM pgwarden.branch WHERE name = 'regress_shop'")
        assert info.value.diag.sqlstate == PW001


def test_the_control_database_cannot_be_moved_while_protected(private: Cluster) -> None:
    """Clearing the install script's mark (a comment) and creating the
    extension elsewhere, or moving the control label, would point the policy
    worker at a database without the protected branches' policy."""
    with private.connect() as conn:
        conn.execute("CREATE DATABASE regress_other")
    with private.connect("regress_ctl") as conn:
        mark = conn.execute("SELECT shobj_description('pgwarden_admin'::regrole, 'pg_authid')"
                            ).fetchone()[0]
        conn.execute("COMMENT ON ROLE pgwarden_admin IS NULL")
        try:
            with private.connect("regress_other") as other:
                with pytest.raises(psycopg.Error) as info:
                    other.execute("CREATE EXTENSION pgwarden")
                assert info.value.diag.sqlstate == PW001
                for stmt in (("SECURITY LABEL FOR pgwarden_control ON DATABASE regress_other"
                              " IS 'control database'"),
                             "SECURITY LABEL FOR pgwarden_control ON DATABASE regress_ctl IS NULL"):
                    with pytest.raises(psycopg.Error) as info:
                        other.execute(stmt)
                    assert info.value.diag.sqlstate == PW001, stmt
        finally:
            conn.execute(sql.SQL("COMMENT ON ROLE pgwarden_admin IS {}").format(sql.Literal(mark)))
        assert conn.execute("SELECT control_database FROM pgwarden.policy_status()"
                            ).fetchone() == ("regress_ctl",)


def test_drop_and_create_again_keeps_the_control_label(private_cluster: ClusterFactory) -> None:
    """The policy worker removes a stale control label after DROP EXTENSION;
    a CREATE EXTENSION committing at that moment must keep its new label
    (the suite once saw it lost: the policy then had no control database;
    this loop is a guard, the race window is too narrow to hit every time)."""
    c = private_cluster(tls=False)
    with c.connect() as conn:
        conn.execute("CREATE DATABASE regress_ctl")
    with c.connect("regress_ctl") as conn:
        conn.execute("CREATE EXTENSION pgwarden")
        for _ in range(8):
            conn.execute("DROP EXTENSION pgwarden")
            conn.execute("CREATE EXTENSION pgwarden")
        deadline = time.monotonic() + 10
        while conn.execute("SELECT state, control_database FROM pgwarden.policy_status()"
                           ).fetchone() != ("loaded", "regress_ctl"):
            assert time.monotonic() < deadline, "the policy lost its control database"
            time.sleep(0.1)
        assert conn.execute("SELECT count(*) FROM pg_shseclabel"
                            " WHERE provider = 'pgwarden_control'").fetchone() == (1,)
