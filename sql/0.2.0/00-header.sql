/* pgwarden--0.1.0--0.2.0.sql: upgrade script, built by the Makefile (and
 * setup.py) from the parts in sql/0.2.0/, concatenated in name order.  A fresh
 * CREATE EXTENSION installs pgwarden--0.1.0.sql and then this script, so a
 * new install and an updated one are the same objects by construction. */

\echo Use "ALTER EXTENSION pgwarden UPDATE TO '0.2.0'" to load this file. \quit
