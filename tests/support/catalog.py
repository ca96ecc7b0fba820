"""A description of every catalog object an extension owns, for comparing installs.

``extension_catalog(conn, name)`` lists, without OIDs or data, what
``pg_depend`` says belongs to the extension and, for each object of its
schema: owner, privileges (and pg_init_privs), comment, and definition
(columns, constraints, indexes, triggers, policies, view and function
bodies, function attributes).  Two installs made in different ways compare
equal exactly when a user could not tell them apart from the catalogs.
"""

from __future__ import annotations

from typing import Any

import psycopg

QUERIES: dict[str, str] = {
    "extension": """
        SELECT e.extversion, e.extrelocatable, n.nspname, pg_get_userbyid(e.extowner),
               ARRAY(SELECT c::regclass::text FROM unnest(e.extconfig) c ORDER BY 1),
               e.extcondition
          FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = %(ext)s""",
    "members": """
        SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
          FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
         WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
           AND e.extname = %(ext)s""",
    "schema": """
        SELECT n.nspname, pg_get_userbyid(n.nspowner), n.nspacl::text,
               obj_description(n.oid, 'pg_namespace')
          FROM pg_namespace n WHERE n.nspname = %(schema)s""",
    "relations": """
        SELECT c.relname, c.relkind, pg_get_userbyid(c.relowner), c.relacl::text,
               c.relpersistence, c.reloptions::text, c.relrowsecurity, c.relforcerowsecurity,
               c.relreplident, obj_description(c.oid, 'pg_class'),
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s AND c.relkind <> 't'""",
    "columns": """
        SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, a.attidentity, a.attgenerated,
               pg_get_expr(ad.adbin, ad.adrelid), a.attacl::text,
               col_description(c.oid, a.attnum), a.attcollation::regcollation::text
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
         WHERE n.nspname = %(schema)s AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')""",
    "constraints": """
        SELECT coalesce(c.relname, t.typname), con.conname, con.contype,
               pg_get_constraintdef(con.oid), obj_description(con.oid, 'pg_constraint')
          FROM pg_constraint con
          JOIN pg_namespace n ON n.oid = con.connamespace
          LEFT JOIN pg_class c ON c.oid = con.conrelid
          LEFT JOIN pg_type t ON t.oid = con.contypid
         WHERE n.nspname = %(schema)s""",
    "indexes": """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
          FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s""",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled,
               obj_description(t.oid, 'pg_trigger')
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s AND NOT t.tgisinternal""",
    "policies": """
        SELECT c.relname, p.polname, p.polcmd, p.polpermissive,
               ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END
                       FROM unnest(p.polroles) r ORDER BY 1),
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
          FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s""",
    "functions": """
        SELECT p.oid::regprocedure::text, pg_get_userbyid(p.proowner), p.proacl::text,
               obj_description(p.oid, 'pg_proc'), pg_get_functiondef(p.oid)
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = %(schema)s AND p.prokind <> 'a'""",
    "aggregates": """
        SELECT p.oid::regprocedure::text, pg_get_userbyid(p.proowner), p.proacl::text,
               obj_description(p.oid, 'pg_proc')
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = %(schema)s AND p.prokind = 'a'""",
    "types": """
        SELECT t.typname, t.typtype, pg_get_userbyid(t.typowner), t.typacl::text,
               obj_description(t.oid, 'pg_type'),
               ARRAY(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid
                      ORDER BY e.enumsortorder)
          FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = %(schema)s""",
    "sequences": """
        SELECT c.relname, s.seqtypid::regtype::text, s.seqstart, s.seqincrement, s.seqmax,
               s.seqmin, s.seqcache, s.seqcycle
          FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %(schema)s""",
    "init_privileges": """
        SELECT pg_describe_object(ip.classoid, ip.objoid, ip.objsubid), ip.privtype,
               ip.initprivs::text
          FROM pg_init_privs ip
          JOIN pg_depend d ON d.classid = ip.classoid AND d.objid = ip.objoid
          JOIN pg_extension e ON e.oid = d.refobjid
         WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
           AND e.extname = %(ext)s""",
    "event_triggers": """
        SELECT t.evtname, t.evtevent, t.evtfoid::regproc::text, t.evtenabled, t.evttags::text
          FROM pg_event_trigger t
          JOIN pg_depend d ON d.classid = 'pg_event_trigger'::regclass AND d.objid = t.oid
          JOIN pg_extension e ON e.oid = d.refobjid
         WHERE d.deptype = 'e' AND e.extname = %(ext)s""",
    "security_labels": """
        SELECT pg_describe_object(l.classoid, l.objoid, l.objsubid), l.provider, l.label
          FROM pg_seclabel l JOIN pg_namespace n ON n.nspname = %(schema)s
         WHERE (l.classoid = 'pg_class'::regclass
                AND l.objoid IN (SELECT oid FROM pg_class WHERE relnamespace = n.oid))
            OR (l.classoid = 'pg_proc'::regclass
                AND l.objoid IN (SELECT oid FROM pg_proc WHERE pronamespace = n.oid))""",
}


def extension_catalog(conn: psycopg.Connection[Any], ext: str = "pgwarden",
                      schema: str = "pgwarden") -> dict[str, list[tuple[Any, ...]]]:
    """Every catalog fact above, each list sorted, keyed by kind."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for kind, query in QUERIES.items():
        rows = conn.execute(query, {"ext": ext, "schema": schema}).fetchall()
        out[kind] = sorted((tuple(r) for r in rows), key=repr)
    return out


def differences(a: dict[str, list[tuple[Any, ...]]],
                b: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    """Human-readable lines: what only a has, what only b has, per kind."""
    lines: list[str] = []
    for kind in QUERIES:
        only_a = [r for r in a[kind] if r not in b[kind]]
        only_b = [r for r in b[kind] if r not in a[kind]]
        lines += [f"{kind}: only in the first: {r!r}" for r in only_a]
        lines += [f"{kind}: only in the second: {r!r}" for r in only_b]
    return lines
