/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  The few server interfaces pgwarden uses that differ between the
 *	  PostgreSQL majors it supports (15, 16, 17 and 18), behind one name
 *	  each.  Include after postgres.h.  Only #if on PG_VERSION_NUM and
 *	  macros here: no copies of server code.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_COMPAT_H
#define PGWARDEN_COMPAT_H

/* The majors this source tree builds for; _PG_init checks the running one. */
#define PGW_MIN_MAJOR 15
#define PGW_MAX_MAJOR 18

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#error "pgwarden supports PostgreSQL 15, 16, 17 and 18"
#endif

/*
 * The GUC table: PostgreSQL 16 made get_guc_variables() return its length
 * through an argument and dropped GetNumConfigOptions().  Needs
 * utils/guc_tables.h.
 */
#if PG_VERSION_NUM >= 160000
#define PGW_GET_GUC_VARIABLES(nvars) get_guc_variables(nvars)
#else
#define PGW_GET_GUC_VARIABLES(nvars) \
	(*(nvars) = GetNumConfigOptions(), get_guc_variables())
#endif

/*
 * This backend's 0-based slot among MaxBackends: BackendId (1-based) until
 * PostgreSQL 16, ProcNumber (0-based) from 17 on.  Needs storage/proc.h.
 */
#if PG_VERSION_NUM >= 170000
#define PGW_MY_BACKEND_INDEX() ((int) MyProcNumber)
#else
#define PGW_MY_BACKEND_INDEX() ((int) MyBackendId - 1)
#endif

/*
 * A PGPROC's local transaction id: PostgreSQL 17 moved it into the
 * virtual transaction id (PGPROC.vxid.lxid).  Needs storage/proc.h.
 */
#if PG_VERSION_NUM >= 170000
#define PGW_PROC_LXID(proc) ((proc)->vxid.lxid)
#else
#define PGW_PROC_LXID(proc) ((proc)->lxid)
#endif

/*
 * A GUC check hook's "extra": the GUC machinery frees it, with free() until
 * PostgreSQL 15 and with pfree() in its own memory context from 16 on, so it
 * must come from the matching allocator (guc_malloc is exported from 16).
 * Returns NULL when out of memory.  Needs utils/guc.h.
 */
#if PG_VERSION_NUM >= 160000
#define PGW_GUC_EXTRA_ALLOC(size) guc_malloc(LOG, (size))
#else
#define PGW_GUC_EXTRA_ALLOC(size) malloc(size)
#endif

/*
 * ExecutorRun_hook: PostgreSQL 18 dropped its last argument, execute_once.
 * Write the hook as f(queryDesc, direction, count PGW_EXECUTOR_RUN_ONCE_PARAM)
 * and pass the call on with (..., count PGW_EXECUTOR_RUN_ONCE_ARG).
 */
#if PG_VERSION_NUM >= 180000
#define PGW_EXECUTOR_RUN_ONCE_PARAM
#define PGW_EXECUTOR_RUN_ONCE_ARG
#else
#define PGW_EXECUTOR_RUN_ONCE_PARAM , bool execute_once
#define PGW_EXECUTOR_RUN_ONCE_ARG , execute_once
#endif

/*
 * Built-in functions by OID (utils/fmgroids.h): PostgreSQL 17 gave
 * pg_logical_emit_message() a flush argument, and dropped
 * pg_rotate_logfile_old().
 */
#if PG_VERSION_NUM >= 170000
#define PGW_F_LOGICAL_EMIT_MESSAGE_TEXT F_PG_LOGICAL_EMIT_MESSAGE_BOOL_TEXT_TEXT_BOOL
#define PGW_F_LOGICAL_EMIT_MESSAGE_BYTEA F_PG_LOGICAL_EMIT_MESSAGE_BOOL_TEXT_BYTEA_BOOL
#else
#define PGW_F_LOGICAL_EMIT_MESSAGE_TEXT F_PG_LOGICAL_EMIT_MESSAGE_BOOL_TEXT_TEXT
#define PGW_F_LOGICAL_EMIT_MESSAGE_BYTEA F_PG_LOGICAL_EMIT_MESSAGE_BOOL_TEXT_BYTEA
#define PGW_HAVE_ROTATE_LOGFILE_OLD 1
#endif

/*
 * Built-in functions that write without a transaction ID, by the major that
 * added them: pg_log_standby_snapshot() (16, a WAL record),
 * pg_sync_replication_slots() (17, slots on a standby), and 18's statistics
 * import functions (pg_restore_relation_stats() and friends update pg_class
 * in place) and pg_stat_reset_backend_stats().
 */
#if PG_VERSION_NUM >= 160000
#define PGW_HAVE_LOG_STANDBY_SNAPSHOT 1
#endif
#if PG_VERSION_NUM >= 170000
#define PGW_HAVE_SYNC_REPLICATION_SLOTS 1
#endif
#if PG_VERSION_NUM >= 180000
#define PGW_HAVE_STATS_IMPORT 1
#define PGW_HAVE_STAT_RESET_BACKEND_STATS 1
#endif

/*
 * Whether a client connection uses TLS.  Port.ssl_in_use exists in every
 * build, but headers from a build without OpenSSL leave USE_SSL undefined
 * although the server that loads the library may have TLS (PostgreSQL 16
 * is built against PyPI's pgserver headers and run on another build):
 * never decide this at compile time.  Needs libpq/libpq-be.h.
 */
#define PGW_PORT_USES_TLS(port) ((port)->ssl_in_use)

#endif							/* PGWARDEN_COMPAT_H */
