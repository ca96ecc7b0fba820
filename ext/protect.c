/*-------------------------------------------------------------------------
 *
 * protect.c
 *	  While any branch is protected, pgwarden's own objects cannot be
 *	  dropped, altered, renamed, truncated or detached from the extension.
 *
 * The protections of a branch are only as durable as the extension that
 * enforces them: dropping pgwarden's schema under another name, detaching a
 * table with ALTER EXTENSION ... DROP and then dropping it, disabling a
 * trigger, or DROP OWNED BY the extension's owner would each remove them.
 * So every creation (CREATE OR REPLACE of a member; a trigger, rule, policy
 * or index on a member table), drop, alteration and truncation is checked
 * here, through the object access hook (and, for the statements that hook
 * cannot judge, pgw_protect_utility_check() from utility.c), against the
 * extension by OID: the extension itself, its schema whatever it is
 * called, each member object (pg_depend 'e') and the triggers,
 * constraints, indexes and columns of its member tables.  The names of
 * these objects play no part.  pgwarden's own install and update
 * scripts (creating_extension for this extension) may change them, and so
 * may ALTER EXTENSION pgwarden UPDATE; nothing else may while a branch is
 * protected.  With no protected branch, DROP EXTENSION works as usual.
 *
 * Only the control database has the extension, so elsewhere this costs one
 * pg_extension lookup per DDL statement's object, and nothing at all for
 * queries: function execution and namespace searches are not looked at.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_shdepend.h"
#include "catalog/pg_trigger.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "branches.h"
#include "constants.h"
#include "protect.h"

static object_access_hook_type prev_object_access_hook = NULL;

/* The relation a trigger, rule or row-level policy belongs to, by OID. */
static Oid
owning_relation(Oid catalog, Oid index, AttrNumber oidcol, AttrNumber relcol, Oid objid)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			relid = InvalidOid;

	ScanKeyInit(&key, oidcol, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(objid));
	scan = systable_beginscan(rel, index, true, NULL, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, relcol, RelationGetDescr(rel), &isnull);

		if (!isnull)
			relid = DatumGetObjectId(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return relid;
}

/* The relation a constraint belongs to (InvalidOid for domain constraints). */
static Oid
constraint_relation(Oid conid)
{
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conid));
	Oid			relid = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		relid = ((Form_pg_constraint) GETSTRUCT(tup))->conrelid;
		ReleaseSysCache(tup);
	}
	return relid;
}

/* The schema of an extension (get_extension_schema() is static before 16). */
static Oid
extension_schema(Oid ext)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/* Is the object the extension, its schema, a member, or part of a member? */
static bool
belongs_to_extension(Oid ext, Oid classId, Oid objectId)
{
	Oid			relid = InvalidOid;

	if (classId == ExtensionRelationId)
		return objectId == ext;
	if (classId == NamespaceRelationId)
		return objectId == extension_schema(ext);
	if (getExtensionOfObject(classId, objectId) == ext)
		return true;
	if (classId == TriggerRelationId)
		relid = owning_relation(TriggerRelationId, TriggerOidIndexId,
								Anum_pg_trigger_oid, Anum_pg_trigger_tgrelid, objectId);
	else if (classId == RewriteRelationId)
		relid = owning_relation(RewriteRelationId, RewriteOidIndexId,
								Anum_pg_rewrite_oid, Anum_pg_rewrite_ev_class, objectId);
	else if (classId == PolicyRelationId)
		relid = owning_relation(PolicyRelationId, PolicyOidIndexId,
								Anum_pg_policy_oid, Anum_pg_policy_polrelid, objectId);
	else if (classId == ConstraintRelationId)
		relid = constraint_relation(objectId);
	else if (classId == RelationRelationId && get_rel_relkind(objectId) == RELKIND_INDEX)
		relid = IndexGetRelation(objectId, true);
	return OidIsValid(relid) &&
		getExtensionOfObject(RelationRelationId, relid) == ext;
}

static void
refuse(Oid classId, Oid objectId, int subId, const char *action, const char *names)
{
	ObjectAddress addr;
	char	   *what;

	addr.classId = classId;
	addr.objectId = objectId;
	addr.objectSubId = subId;
	what = getObjectDescription(&addr, true);
	ereport(ERROR,
			(errcode(ERRCODE_PGW_PROTECTED_BRANCH),
			 errmsg("protected branches exist: %s %s%s is refused",
					action, what ? what : "an object",
					classId == ExtensionRelationId ? "" : ", part of pgwarden,"),
			 errdetail("Protected branches: %s.  pgwarden's objects enforce their protections and cannot be removed, changed or detached while a branch is protected.",
					   names),
			 errhint("Unprotect each of them first with SELECT pgwarden.unprotect_branch(name).")));
}

static void
check_object(Oid classId, Oid objectId, int subId, const char *action)
{
	Oid			ext;
	char	   *names;

	ext = get_extension_oid("pgwarden", true);
	if (!OidIsValid(ext))
		return;
	/* pgwarden's own scripts, and ALTER EXTENSION pgwarden UPDATE, may. */
	if (creating_extension && CurrentExtensionObject == ext)
		return;
	/* ALTER EXTENSION pgwarden UPDATE alters the extension's own row */
	if (classId == ExtensionRelationId && objectId == ext && strcmp(action, "altering") == 0)
		return;
	if (!belongs_to_extension(ext, classId, objectId))
		return;
	if ((names = pgw_protected_branch_names()) != NULL)
		refuse(classId, objectId, subId, action, names);
}

static void
pgw_protect_object_access(ObjectAccessType access, Oid classId, Oid objectId,
						  int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	switch (access)
	{
		case OAT_POST_CREATE:
			/* CREATE OR REPLACE of a member; a trigger, rule or policy on one */
			check_object(classId, objectId, subId, "creating or replacing");
			break;
		case OAT_DROP:
			check_object(classId, objectId, subId, "dropping");
			break;
		case OAT_POST_ALTER:
			check_object(classId, objectId, subId, "altering");
			break;
		case OAT_TRUNCATE:
			check_object(RelationRelationId, objectId, 0, "truncating");
			break;
		default:
			break;
	}
}

/*
 * A statement naming a relation: check it, and the partitions and children
 * the statement may reach through it (a trigger or index created on a
 * partitioned table is cloned onto its partitions, ALTER TABLE recurses).
 */
static void
check_relation(RangeVar *rv, const char *action)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	if (!OidIsValid(relid))
		return;
	check_object(RelationRelationId, relid, 0, action);
	if (has_subclass(relid))
	{
		ListCell   *lc;

		foreach(lc, find_all_inheritors(relid, NoLock, NULL))
			check_object(RelationRelationId, lfirst_oid(lc), 0, action);
	}
}

static void
check_grant(GrantStmt *stmt)
{
	const char *action = stmt->is_grant ? "GRANT on" : "REVOKE on";
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		Node	   *obj = lfirst(lc);

		if (stmt->targtype == ACL_TARGET_ALL_IN_SCHEMA ||
			(stmt->targtype == ACL_TARGET_OBJECT && stmt->objtype == OBJECT_SCHEMA))
		{
			Oid			nsp = get_namespace_oid(strVal(obj), true);

			if (OidIsValid(nsp))
				check_object(NamespaceRelationId, nsp, 0, action);
		}
		else if (stmt->targtype != ACL_TARGET_OBJECT)
			continue;
		else if (stmt->objtype == OBJECT_TABLE || stmt->objtype == OBJECT_SEQUENCE)
			check_relation((RangeVar *) obj, action);
		else if (stmt->objtype == OBJECT_FUNCTION || stmt->objtype == OBJECT_PROCEDURE ||
				 stmt->objtype == OBJECT_ROUTINE)
		{
			Oid			fn = LookupFuncWithArgs(stmt->objtype, (ObjectWithArgs *) obj, true);

			if (OidIsValid(fn))
				check_object(ProcedureRelationId, fn, 0, action);
		}
	}
}

/* FOREIGN KEY ... REFERENCES a member table puts RI triggers on it. */
static void
check_references(Node *node)
{
	if (node != NULL && IsA(node, Constraint) &&
		((Constraint *) node)->contype == CONSTR_FOREIGN)
		check_relation(((Constraint *) node)->pktable, "FOREIGN KEY referencing");
	else if (node != NULL && IsA(node, ColumnDef))
	{
		ListCell   *lc;

		foreach(lc, ((ColumnDef *) node)->constraints)
			check_references(lfirst(lc));
	}
}

/*
 * CREATE TABLE ... INHERITS (member) or PARTITION OF member: the member's
 * reads (pgwarden's own included) would include the new table's rows, which
 * none of the member's triggers see; and a foreign key on a member.
 */
static void
check_create_table(CreateStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->inhRelations)
		check_relation(lfirst_node(RangeVar, lc), "inheriting from");
	foreach(lc, stmt->tableElts)
		check_references(lfirst(lc));
	foreach(lc, stmt->constraints)
		check_references(lfirst(lc));
}

/*
 * ALTER TABLE parent ATTACH PARTITION member makes a member a partition of
 * another role's table: whatever is then done to the parent is done to the
 * member too (triggers, indexes and constraints are cloned onto it, column
 * defaults and types follow), and rows written through the parent skip the
 * member's statement triggers.  INHERIT member and FOREIGN KEY ... REFERENCES
 * member as for CREATE TABLE.
 */
static void
check_alter_table_cmds(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_AttachPartition && cmd->def != NULL &&
			IsA(cmd->def, PartitionCmd))
			check_relation(((PartitionCmd *) cmd->def)->name, "ATTACH PARTITION of");
		else if (cmd->subtype == AT_AddInherit && cmd->def != NULL &&
				 IsA(cmd->def, RangeVar))
			check_relation((RangeVar *) cmd->def, "inheriting from");
		else if (cmd->subtype == AT_AddConstraint || cmd->subtype == AT_AddColumn)
			check_references(cmd->def);
	}
}

/* ALTER DEFAULT PRIVILEGES IN SCHEMA <pgwarden's>: grants on its next objects. */
static void
check_default_privileges(AlterDefaultPrivilegesStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);
		ListCell   *n;

		if (strcmp(opt->defname, "schemas") != 0)
			continue;
		foreach(n, (List *) opt->arg)
		{
			Oid			nsp = get_namespace_oid(strVal(lfirst(n)), true);

			if (OidIsValid(nsp))
				check_object(NamespaceRelationId, nsp, 0,
							 "ALTER DEFAULT PRIVILEGES in");
		}
	}
}

/*
 * DROP OWNED BY role also revokes the role's privileges on every object of
 * this database (REVOKE is refused on pgwarden's objects, DROP OWNED BY
 * pgwarden_admin was not): judge each object the role depends on.
 */
static void
check_drop_owned(DropOwnedStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->roles)
	{
		Oid			role = get_rolespec_oid(lfirst_node(RoleSpec, lc), true);
		Relation	rel;
		ScanKeyData key[2];
		SysScanDesc scan;
		HeapTuple	tup;
		List	   *objects = NIL;
		ListCell   *o;

		if (!OidIsValid(role))
			continue;
		rel = table_open(SharedDependRelationId, AccessShareLock);
		ScanKeyInit(&key[0], Anum_pg_shdepend_refclassid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(AuthIdRelationId));
		ScanKeyInit(&key[1], Anum_pg_shdepend_refobjid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(role));
		scan = systable_beginscan(rel, SharedDependReferenceIndexId, true, NULL, 2, key);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_shdepend dep = (Form_pg_shdepend) GETSTRUCT(tup);
			ObjectAddress *addr;

			if (dep->dbid != MyDatabaseId)
				continue;
			addr = palloc(sizeof(ObjectAddress));
			ObjectAddressSubSet(*addr, dep->classid, dep->objid, dep->objsubid);
			objects = lappend(objects, addr);
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
		foreach(o, objects)
		{
			ObjectAddress *addr = lfirst(o);

			check_object(addr->classId, addr->objectId, addr->objectSubId,
						 "DROP OWNED (dropping or revoking) on");
		}
	}
}

/*
 * Refuse an action while any branch is protected, unless pgwarden's own
 * script is running in this database.  Used for the control-database label
 * (moving or clearing it would point the policy worker elsewhere).
 */
void
pgw_protect_refuse_while_protected(const char *action)
{
	char	   *names;

	if (creating_extension && OidIsValid(CurrentExtensionObject) &&
		CurrentExtensionObject == get_extension_oid("pgwarden", true))
		return;
	if ((names = pgw_protected_branch_names()) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PGW_PROTECTED_BRANCH),
				 errmsg("protected branches exist: %s is refused", action),
				 errdetail("Protected branches: %s.  The policy that protects them must stay where it is.",
						   names),
				 errhint("Unprotect each of them first with SELECT pgwarden.unprotect_branch(name).")));
}

/*
 * CREATE EXTENSION pgwarden while a branch is protected: DROP EXTENSION is
 * refused then, so the extension is alive in the control database and a
 * second one would take the control-database label, and with it the policy,
 * away from it (the install script's own check relies on a comment that a
 * superuser can clear).
 */
static void
check_create_extension(CreateExtensionStmt *stmt)
{
	if (strcmp(stmt->extname, "pgwarden") == 0)
		pgw_protect_refuse_while_protected("CREATE EXTENSION pgwarden in a second database");
}

/*
 * Statements the object access hook does not see in a checkable state: a
 * trigger, rule, policy or index being created on a member table (not yet
 * visible in the catalogs when the hook runs), ALTER TABLE subcommands that
 * invoke no hook (ENABLE ROW LEVEL SECURITY), GRANT and REVOKE, and
 * ALTER EXTENSION pgwarden ADD/DROP (detaching a table first would let a
 * plain DROP TABLE remove it); statements on other tables that reach a
 * member (ATTACH PARTITION member, INHERITS member, REFERENCES member),
 * ALTER DEFAULT PRIVILEGES in pgwarden's schema and DROP OWNED BY a role
 * with privileges on a member.  Called from the ProcessUtility hook; each
 * name is resolved to an OID here and judged by OID.
 */
void
pgw_protect_utility_check(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			check_relation(((AlterTableStmt *) parsetree)->relation, "ALTER TABLE of");
			check_alter_table_cmds((AlterTableStmt *) parsetree);
			break;
		case T_CreateStmt:
		case T_CreateForeignTableStmt:
			check_create_table((CreateStmt *) parsetree);
			break;
		case T_AlterDefaultPrivilegesStmt:
			check_default_privileges((AlterDefaultPrivilegesStmt *) parsetree);
			break;
		case T_DropOwnedStmt:
			check_drop_owned((DropOwnedStmt *) parsetree);
			break;
		case T_CreateTrigStmt:
			check_relation(((CreateTrigStmt *) parsetree)->relation, "CREATE TRIGGER on");
			break;
		case T_RuleStmt:
			check_relation(((RuleStmt *) parsetree)->relation, "CREATE RULE on");
			break;
		case T_CreatePolicyStmt:
			check_relation(((CreatePolicyStmt *) parsetree)->table, "CREATE POLICY on");
			break;
		case T_AlterPolicyStmt:
			check_relation(((AlterPolicyStmt *) parsetree)->table, "ALTER POLICY on");
			break;
		case T_IndexStmt:
			check_relation(((IndexStmt *) parsetree)->relation, "CREATE INDEX on");
			break;
		case T_GrantStmt:
			check_grant((GrantStmt *) parsetree);
			break;
		case T_CreateExtensionStmt:
			check_create_extension((CreateExtensionStmt *) parsetree);
			break;
		case T_AlterExtensionContentsStmt:
			{
				AlterExtensionContentsStmt *stmt = (AlterExtensionContentsStmt *) parsetree;
				Oid			ext = get_extension_oid("pgwarden", true);

				if (strcmp(stmt->extname, "pgwarden") == 0 && OidIsValid(ext))
					check_object(ExtensionRelationId, ext, 0,
								 stmt->action > 0 ? "ALTER EXTENSION ... ADD to" :
								 "ALTER EXTENSION ... DROP from");
				break;
			}
		default:
			break;
	}
}

void
pgw_protect_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = pgw_protect_object_access;
}
