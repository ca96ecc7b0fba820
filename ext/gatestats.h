/*-------------------------------------------------------------------------
 *
 * gatestats.h
 *	  Counters of the connection gate's decisions in shared memory
 *	  (gatestats.c), fed by a gate observer its init function registers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_GATESTATS_H
#define PGWARDEN_GATESTATS_H

extern void pgw_gatestats_init(void);

#endif							/* PGWARDEN_GATESTATS_H */
