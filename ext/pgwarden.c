/*-------------------------------------------------------------------------
 *
 * pgwarden.c
 *	  Module entry point: refuses to load outside shared_preload_libraries
 *	  or into another major than it was built for, does nothing under
 *	  binary upgrade, calls every concern's init function in one flat list,
 *	  then reserves the "pgwarden." GUC prefix.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "allowlist.h"
#include "audit.h"
#include "branches.h"
#include "compat.h"
#include "endpoints.h"
#include "gate.h"
#include "gatestats.h"
#include "logmask.h"
#include "password.h"
#include "policy.h"
#include "protect.h"
#include "readonly.h"
#include "utility.h"

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

	/*
	 * Every concern defines its settings, installs its hooks and registers
	 * what it adds to the others (policy loaders and tasks, gate rules and
	 * observers).  Registration order does not matter: the gate orders its
	 * rules by stage.  Hook chains are built in this order, so audit.c, whose
	 * hooks must see everything first, comes last.
	 */
	pgw_password_init();
	pgw_logmask_init();
	pgw_utility_init();
	pgw_policy_init();
	pgw_gate_init();
	pgw_allowlist_init();
	pgw_endpoints_init();
	pgw_readonly_init();
	pgw_branches_init();
	pgw_protect_init();
	pgw_gatestats_init();
	pgw_audit_init();

	MarkGUCPrefixReserved("pgwarden");
}
