/*-------------------------------------------------------------------------
 *
 * branches.h
 *	  Protected branches and branch credentials as every backend enforces
 *	  them (branches.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_BRANCHES_H
#define PGWARDEN_BRANCHES_H

struct PlannedStmt;

/* ProcessUtility (utility.c): before and after the statement runs */
extern void pgw_branches_utility_check(struct PlannedStmt *pstmt);
extern void pgw_branches_utility_after(struct PlannedStmt *pstmt);

/* after DROP EXTENSION pgwarden: remove every label pgwarden left */
extern void pgw_branches_clear_labels(void);

/* the quoted names of the protected branches, or NULL (from any database) */
extern char *pgw_protected_branch_names(void);

extern void pgw_branches_init(void);

#endif							/* PGWARDEN_BRANCHES_H */
