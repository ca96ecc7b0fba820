/*-------------------------------------------------------------------------
 *
 * pgwarden.c
 *	  Module entry point: refuses to load outside shared_preload_libraries,
 *	  lets each concern define its GUCs and install its hooks, then
 *	  reserves the "pgwarden." GUC prefix.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "audit.h"
#include "compat.h"
#include "gatestats.h"
#include "pgwarden.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * The hooks must be in place in every backend from its start; loading the
	 * library later (LOAD, or a function call in one session) would leave the
	 * policy unenforced for everyone else.  Refuse clearly.
	 */
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgwarden must be loaded via shared_preload_libraries"),
				 errhint("Add pgwarden to shared_preload_libraries in postgresql.conf and restart the server.")));

	/*
	 * The library is built for one major (the magic block refuses another
	 * before we get here; this says which, and which majors exist).
	 */
	{
		const char *running = GetConfigOption("server_version_num", false, false);
		int			major = running ? atoi(running) / 10000 : 0;

		if (major != PG_VERSION_NUM / 10000)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("pgwarden was built for PostgreSQL %d, but this server is PostgreSQL %d",
							PG_VERSION_NUM / 10000, major),
					 errhint("Build and install pgwarden with the pg_config of this server (PostgreSQL %d to %d are supported).",
							 PGW_MIN_MAJOR, PGW_MAX_MAJOR)));
	}

	/* pg_upgrade runs the server in binary-upgrade mode: enforce nothing. */
	if (IsBinaryUpgrade)
		return;

	pgw_password_init();
	pgw_logmask_init();
	pgw_utility_init();
	pgw_gate_init();
	pgw_branches_init();
	pgw_protect_init();
	pgw_gatestats_init();
	pgw_audit_init();			/* last: wraps the hooks installed above */

	MarkGUCPrefixReserved("pgwarden");
}
