#!/usr/bin/env python3
"""Every non-immutable function of a server, classified for read-only endpoints.

A read-only endpoint must admit no write of any kind.  PostgreSQL checks
what goes through the executor and most utility statements; pgwarden makes
every transaction of the session read-only and fails the commit of one that
got a transaction ID.  What is left are functions that act without asking:
this script lists every function of ``pg_proc`` that is not immutable (an
immutable function computes its result from its arguments only) and says,
for each one, why a read-only endpoint may run it, or that pgwarden refuses
it (``pgwarden.readonly_refusals()``, the list compiled into ext/readonly.c).

A function that falls in no class is UNCLASSIFIED: the test
``test_every_non_immutable_function_is_classified`` fails until someone
reads what it does and either adds it to ext/readonly.c (it writes) or to
ALLOWED below (it does not).  Classes match function names, written
``name`` for pg_catalog and ``schema.name`` elsewhere, with fnmatch patterns.

Usage::

    .venv/bin/python tests/support/readonly_functions.py "host=/path/to/sockets dbname=regress_control"

prints one line per function and the counts, and exits 1 when a function is
unclassified.  The database must have pgwarden created.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import psycopg

#: Why a read-only endpoint may run a function: class -> (reason, name patterns).
ALLOWED: dict[str, tuple[str, tuple[str, ...]]] = {
    "type_support": (
        ("converts values of a type to or from text or binary, or estimates selectivity "
        "or statistics for the planner (ANALYZE itself is refused)"),
        ("*_in", "*_out", "*_recv", "*_send", "*sel", "*joinsel", "*_typanalyze", "in_range",
         "date", "time", "timetz", "timestamp", "timestamptz", "money", "numeric", "xml",
         "regclass", "length", "convert", "convert_from", "convert_to", "to_char", "to_date",
         "to_number", "to_timestamp", "to_json", "to_jsonb", "row_to_json", "array_to_json",
         "array_to_string", "format", "format_type", "concat", "concat_ws", "xml_is_well_formed",
         "oidvectortypes", "pg_typeof", "pg_column_size", "pg_column_compression",
         "pg_input_is_valid", "pg_input_error_info", "pg_basetype",
         "to_reg*", "pg_char_to_encoding", "pg_encoding_to_char", "enum_first", "enum_last",
         "enum_range", "pg_collation_for", "pg_options_to_table")),
    "computes": (
        ("computes a value; stable only because the result depends on settings such as "
        "TimeZone, DateStyle, search_path or the text search configuration"),
        ("date_*", "timestamp_*", "timestamptz_*", "timezone", "make_timestamptz",
         "date_part", "date_trunc", "extract", "age", "mxid_age", "generate_series",
         "json_*", "jsonb_*", "to_tsvector", "to_tsquery", "plainto_tsquery",
         "phraseto_tsquery", "websearch_to_tsquery", "ts_headline", "ts_match_tq",
         "ts_match_tt", "ts_parse", "ts_token_type", "get_current_ts_config",
         "dsnowball_init", "dsnowball_lexize", "aclexplode")),
    "clock": (
        "reads the clock or draws random numbers",
        ("now", "clock_timestamp", "statement_timestamp", "transaction_timestamp",
         "timeofday", "random", "random_normal", "array_sample", "array_shuffle",
         "gen_random_uuid", "uuidv4", "uuidv7", "pgwarden.generate_password")),
    "reads": (
        "reads the catalogs, statistics, files or the state of the server and changes nothing",
        ("pg_stat_get_*", "pg_stat_have_stats", "pg_stat_file", "has_*_privilege",
         "pg_has_role", "pg_*_is_visible", "pg_get_*", "pg_describe_object",
         "pg_identify_object*", "pg_*_has_property", "pg_is_*", "pg_my_temp_schema",
         "pg_ls_*", "pg_read_file", "pg_read_file_old", "pg_read_binary_file",
         "pg_control_*", "pg_current_wal_*", "pg_last_*", "pg_current_logfile",
         "pg_current_snapshot", "pg_current_xact_id_if_assigned", "txid_current_if_assigned",
         "txid_current_snapshot", "txid_status", "pg_xact_status",
         "pg_xact_commit_timestamp", "pg_xact_commit_timestamp_origin",
         "pg_database_size", "pg_relation_size", "pg_table_size", "pg_indexes_size",
         "pg_total_relation_size", "pg_tablespace_size", "pg_tablespace_databases",
         "pg_tablespace_location", "pg_relation_filenode", "pg_relation_filepath",
         "pg_filenode_relation", "pg_relation_is_publishable", "pg_relation_is_updatable",
         "pg_column_is_updatable", "pg_partition_ancestors", "pg_partition_tree",
         "pg_sequence_last_value", "pg_sequence_parameters", "currval", "lastval", "currtid2",
         "pg_blocking_pids", "pg_safe_snapshot_blocking_pids",
         "pg_isolation_test_session_is_blocked", "pg_lock_status", "pg_prepared_xact",
         "pg_prepared_statement", "pg_cursor", "pg_listening_channels",
         "pg_notification_queue_usage", "pg_show_all_settings", "pg_show_all_file_settings",
         "pg_settings_get_flags", "pg_hba_file_rules", "pg_ident_file_mappings",
         "pg_config", "pg_conf_load_time", "pg_postmaster_start_time", "pg_jit_available",
         "pg_numa_available", "pg_available_wal_summaries", "pg_wal_summary_contents",
         "pg_split_walfile_name", "pg_column_toast_chunk_id", "system_user",
         "pg_timezone_abbrevs_abbrevs", "pg_timezone_abbrevs_zone",
         "pg_available_extensions", "pg_available_extension_versions",
         "pg_extension_update_paths", "pg_collation_actual_version",
         "pg_database_collation_actual_version", "pg_timezone_abbrevs", "pg_timezone_names",
         "pg_replication_origin_oid", "pg_replication_origin_progress",
         "pg_replication_origin_session_is_setup", "pg_replication_origin_session_progress",
         "pg_show_replication_origin_status", "pg_mcv_list_items", "pg_backend_pid",
         "pg_trigger_depth", "pg_event_trigger_*", "row_security_active",
         "current_database", "current_query", "current_schema", "current_schemas",
         "current_setting", "current_user", "session_user", "getpgusername",
         "getdatabaseencoding", "pg_client_encoding", "inet_client_addr", "inet_client_port",
         "inet_server_addr", "inet_server_port", "version", "amvalidate",
         "pgwarden.check_connection", "pgwarden.policy_status", "pgwarden.readonly_session",
         "pgwarden.readonly_refusals", "pgwarden._created_here", "pgwarden._policy_verify",
         "pgwarden._audit_outer_user", "pgwarden._audit_role_name",
         "pgwarden._endpoint_sessions", "pgwarden._gate_stats")),
    "session": (
        ("changes only this session's state: settings (the two that would end read-only are "
        "refused by their check hooks), advisory locks, large-object descriptors, the random "
        "seed, exported snapshots, the statistics snapshot, sleeping"),
        ("set_config", "setseed", "pg_advisory_*", "pg_try_advisory_*", "lo_open", "lo_close",
         "loread", "lo_get", "lo_lseek", "lo_lseek64", "lo_tell", "lo_tell64",
         "pg_export_snapshot", "pg_stat_clear_snapshot", "pg_stat_force_next_flush",
         "pg_sleep", "pg_sleep_for", "pg_sleep_until", "pgwarden._allow_template_copy")),
    "signals": (
        ("signals another session (cancel, terminate, log its memory use) with the usual "
        "privileges; writes no data"),
        ("pg_cancel_backend", "pg_terminate_backend", "pg_log_backend_memory_contexts")),
    "queries": (
        ("runs SQL (given as text, a cursor, or its own statements through SPI); every "
         "statement is checked as it runs, so its writes are refused like any other"),
        ("query_to_xml*", "query_to_xmlschema", "cursor_to_xml*", "table_to_xml*",
         "schema_to_xml*", "database_to_xml*", "ts_stat", "ts_rewrite",
         "pgwarden.audit_prune")),
    "handler": (
        ("trigger, access method, language and sampling handlers: run only inside a "
        "statement that is itself checked"),
        ("RI_FKey_*", "suppress_redundant_updates_trigger", "tsvector_update_trigger*",
         "unique_key_recheck", "*handler", "bernoulli", "system", "plpgsql_*",
         "fmgr_*_validator", "pgwarden._policy_changed")),
    "binary_upgrade": (
        ("refused by PostgreSQL outside binary-upgrade mode (pg_upgrade), where pgwarden "
        "enforces nothing"),
        ("binary_upgrade_*",)),
}

SQL_BODY = ("sql_body", ("written in SQL or PL/pgSQL: every statement it runs is checked by "
            "PostgreSQL's read-only rules and pgwarden's hooks as it runs"))


#: Classes the catalog itself proves, checked before the names.
CATALOG_CLASSES = {
    "type_support": "referenced by pg_type as the input, output, binary I/O, typmod or "
                    "ANALYZE function of a type, or by pg_operator as a selectivity estimator",
    "handler": "returns a trigger, event trigger, access method, sampling method, foreign "
               "data wrapper or language handler, or is a language's handler or validator",
}


@dataclass
class Function:
    signature: str          # regprocedure text, e.g. pg_switch_wal()
    name: str               # name, or schema.name outside pg_catalog
    language: str
    volatility: str         # 's' or 'v'
    refused_kind: str | None  # pgwarden.readonly_refusals().kind, or None
    catalog_class: str | None
    klass: str = ""


QUERY = """
WITH type_support AS (
    SELECT unnest(ARRAY[typinput, typoutput, typreceive, typsend,
                        typmodin, typmodout, typanalyze])::pg_catalog.oid AS oid
      FROM pg_catalog.pg_type
    UNION SELECT unnest(ARRAY[oprrest, oprjoin])::pg_catalog.oid FROM pg_catalog.pg_operator
), handler AS (
    SELECT amhandler::pg_catalog.oid AS oid FROM pg_catalog.pg_am
    UNION SELECT unnest(ARRAY[lanplcallfoid, laninline, lanvalidator])
      FROM pg_catalog.pg_language
)
SELECT p.oid::pg_catalog.regprocedure::text,
       CASE WHEN n.nspname = 'pg_catalog' THEN p.proname::text
            ELSE n.nspname || '.' || p.proname END,
       l.lanname, p.provolatile, r.kind,
       CASE WHEN p.oid IN (SELECT oid FROM type_support) THEN 'type_support'
            WHEN p.oid IN (SELECT oid FROM handler)
              OR p.prorettype IN ('trigger'::pg_catalog.regtype,
                                  'event_trigger'::pg_catalog.regtype,
                                  'index_am_handler'::pg_catalog.regtype,
                                  'table_am_handler'::pg_catalog.regtype,
                                  'tsm_handler'::pg_catalog.regtype,
                                  'fdw_handler'::pg_catalog.regtype,
                                  'language_handler'::pg_catalog.regtype) THEN 'handler'
       END
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
  LEFT JOIN pgwarden.readonly_refusals() r ON r.function = p.oid
 WHERE p.provolatile <> 'i'
 ORDER BY 1
"""


def classify_name(name: str) -> str | None:
    for klass, (_, patterns) in ALLOWED.items():
        if any(fnmatchcase(name, p) for p in patterns):
            return klass
    return None


def functions(conn: psycopg.Connection[Any]) -> list[Function]:
    out: list[Function] = []
    for sig, name, lang, vol, kind, catalog_class in conn.execute(QUERY):
        f = Function(sig, name, lang, vol, kind, catalog_class)
        if kind is not None:
            f.klass = f"refused:{kind}"
        elif lang not in ("internal", "c"):
            f.klass = SQL_BODY[0]
        else:
            f.klass = catalog_class or classify_name(name) or "UNCLASSIFIED"
        out.append(f)
    return out


def main(argv: list[str]) -> int:
    dsn = argv[1] if len(argv) > 1 else ""
    with psycopg.connect(dsn, autocommit=True) as conn:
        funcs = functions(conn)
    for f in funcs:
        print(f"{f.klass:28} {f.volatility} {f.language:9} {f.signature}")
    counts = Counter(f.klass.split(":")[0] for f in funcs)
    print()
    print(f"{len(funcs)} non-immutable functions: " +
          ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1 if counts.get("UNCLASSIFIED") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
