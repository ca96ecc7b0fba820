/*-------------------------------------------------------------------------
 *
 * safespi.h
 *	  SPI with search_path = pg_catalog, pg_temp (safespi.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGWARDEN_SAFESPI_H
#define PGWARDEN_SAFESPI_H

/* SPI_connect and the safe search path; returns the GUC nest level. */
extern int	pgw_spi_connect(void);

/* restores the search path of pgw_spi_connect's caller, then SPI_finish */
extern void pgw_spi_finish(int nestlevel);

/* a background worker's settings, overriding the database's own */
extern void pgw_worker_safe_settings(void);

#endif							/* PGWARDEN_SAFESPI_H */
