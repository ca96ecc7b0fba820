/*-------------------------------------------------------------------------
 *
 * logmask.c
 *	  emit_log_hook that keeps plaintext passwords out of the server log.
 *
 * Two defences, applied to every message before it is written:
 *
 * 1. Keyword masking.  When a logged SQL text contains the word PASSWORD,
 *	  every string literal in it ('...', E'...', $tag$...$tag$) is replaced by
 *	  a fixed-length mark.  SQL texts are the statement logged by
 *	  log_statement / log_min_duration_statement (recognised by the
 *	  untranslated message format), CONTEXT lines and the internal query;
 *	  this covers statements logged before they run, and DO bodies.  Prose
 *	  (errors, DETAIL, HINT) is left alone: it may say "password" and contain
 *	  apostrophes.  When the statement being run (debug_query_string)
 *	  contains PASSWORD, its STATEMENT: line is suppressed.
 *
 * 2. Remembered plaintext.  check_password_hook hands us the plaintext it
 *	  checked; until the end of the transaction any occurrence of it in a log
 *	  text is replaced by the mark and STATEMENT: lines containing it are
 *	  suppressed.  This covers passwords that reached CREATE/ALTER ROLE
 *	  through variables or function arguments.
 *
 * The remembered copy lives in TopMemoryContext and is zeroed at
 * transaction end.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/memutils.h"

#include "pgwarden.h"

#define MASK			"********"
/* Remembered passwords shorter than this are not scrubbed (too many false hits). */
#define MIN_REMEMBERED	4

static emit_log_hook_type prev_emit_log_hook = NULL;
static char *remembered = NULL;
static bool xact_callback_registered = false;

static bool
contains_password_keyword(const char *s)
{
	const char *p;

	for (p = s; *p; p++)
		if (pg_strncasecmp(p, "password", 8) == 0)
			return true;
	return false;
}

/*
 * Length of the dollar-quote tag starting at s ("$$" or "$name$"), or 0.
 */
static int
dollar_tag_len(const char *s)
{
	const char *p = s + 1;

	if (*s != '$')
		return 0;
	while (*p && (isalnum((unsigned char) *p) || *p == '_' ||
				  (unsigned char) *p >= 0x80))
		p++;
	if (*p != '$' || (p > s + 1 && isdigit((unsigned char) s[1])))
		return 0;
	return (int) (p - s) + 1;
}

/*
 * Replace the contents of every string literal in text by MASK.  Returns a
 * palloc'd string, or NULL when text holds no literal.  Unterminated
 * literals are masked to the end (fail closed).
 */
static char *
mask_literals(const char *text)
{
	StringInfoData out;
	const char *p = text;
	bool		changed = false;

	initStringInfo(&out);
	while (*p)
	{
		int			tag;

		if (*p == '\'')
		{
			bool		backslash = (p > text && (p[-1] == 'E' || p[-1] == 'e'));

			appendStringInfoChar(&out, '\'');
			p++;
			while (*p)
			{
				if (backslash && *p == '\\' && p[1])
					p += 2;
				else if (*p == '\'' && p[1] == '\'')
					p += 2;
				else if (*p == '\'')
					break;
				else
					p++;
			}
			appendStringInfoString(&out, MASK);
			if (*p == '\'')
			{
				appendStringInfoChar(&out, '\'');
				p++;
			}
			changed = true;
		}
		else if ((tag = dollar_tag_len(p)) > 0)
		{
			const char *end = NULL;
			const char *q;

			appendBinaryStringInfo(&out, p, tag);
			for (q = p + tag; *q; q++)
				if (strncmp(q, p, tag) == 0)
				{
					end = q;
					break;
				}
			appendStringInfoString(&out, MASK);
			if (end)
			{
				appendBinaryStringInfo(&out, end, tag);
				p = end + tag;
			}
			else
				p += strlen(p);
			changed = true;
		}
		else
			appendStringInfoChar(&out, *p++);
	}
	if (!changed)
	{
		pfree(out.data);
		return NULL;
	}
	return out.data;
}

/*
 * Replace every occurrence of the remembered plaintext in text by MASK.
 * Returns a palloc'd string, or NULL when there was none.
 */
static char *
scrub_remembered(const char *text)
{
	StringInfoData out;
	const char *p = text;
	const char *hit;
	size_t		rlen;

	if (remembered == NULL || (hit = strstr(text, remembered)) == NULL)
		return NULL;
	rlen = strlen(remembered);
	initStringInfo(&out);
	do
	{
		appendBinaryStringInfo(&out, p, hit - p);
		appendStringInfoString(&out, MASK);
		p = hit + rlen;
	} while ((hit = strstr(p, remembered)) != NULL);
	appendStringInfoString(&out, p);
	return out.data;
}

/*
 * The masked form of text, or NULL when nothing in it needed masking.
 * is_sql says whether text is SQL (literals masked when it mentions
 * PASSWORD) or prose (only the remembered plaintext is scrubbed).
 */
static char *
mask_text(const char *text, bool is_sql)
{
	char	   *masked = NULL;
	char	   *scrubbed;

	if (text == NULL)
		return NULL;
	if (is_sql && contains_password_keyword(text))
		masked = mask_literals(text);
	scrubbed = scrub_remembered(masked ? masked : text);
	if (scrubbed)
	{
		if (masked)
			pfree(masked);
		masked = scrubbed;
	}
	return masked;
}

static void
mask_field(char **field, bool is_sql)
{
	char	   *masked = mask_text(*field, is_sql);

	if (masked)
		*field = masked;		/* the old text lives in ErrorContext too */
}

/*
 * Is this message one of postgres.c's statement-logging lines ("statement:
 * %s", "duration: %s ms  statement: %s", "execute %s: %s", ...)?  Judged on
 * the untranslated format, so lc_messages does not matter.
 */
static bool
is_statement_log(const ErrorData *edata)
{
	const char *id = edata->message_id;

	if (id == NULL)
		return false;
	return strncmp(id, "statement: ", 11) == 0 ||
		strncmp(id, "duration: ", 10) == 0 ||
		strncmp(id, "execute ", 8) == 0 ||
		strncmp(id, "parse ", 6) == 0 ||
		strncmp(id, "bind ", 5) == 0;
}

static void
pgw_emit_log(ErrorData *edata)
{
	if (edata->output_to_server)
	{
		MemoryContext old = MemoryContextSwitchTo(ErrorContext);

		mask_field(&edata->message, is_statement_log(edata));
		mask_field(&edata->detail, false);
		mask_field(&edata->detail_log, false);
		mask_field(&edata->hint, false);
		mask_field(&edata->context, true);
		mask_field(&edata->internalquery, true);

		if (!edata->hide_stmt && debug_query_string != NULL)
		{
			char	   *masked = mask_text(debug_query_string, true);

			if (masked)
			{
				edata->hide_stmt = true;
				pfree(masked);
			}
		}
		MemoryContextSwitchTo(old);
	}

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

static void
forget_password(void)
{
	if (remembered)
	{
		explicit_bzero(remembered, strlen(remembered));
		pfree(remembered);
		remembered = NULL;
	}
}

static void
logmask_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		forget_password();
}

/*
 * Remember a plaintext password until the end of the transaction so that
 * later log lines can be scrubbed of it.
 */
void
pgw_logmask_remember(const char *password)
{
	forget_password();
	if (strlen(password) < MIN_REMEMBERED)
		return;
	if (!xact_callback_registered)
	{
		RegisterXactCallback(logmask_xact_callback, NULL);
		xact_callback_registered = true;
	}
	remembered = MemoryContextStrdup(TopMemoryContext, password);
}

void
pgw_logmask_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = pgw_emit_log;
}
