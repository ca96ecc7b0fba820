/*-------------------------------------------------------------------------
 *
 * logmask.c
 *	  emit_log_hook that keeps plaintext passwords out of the server log.
 *
 * Two defences, applied to every message before it is written:
 *
 * 1. Keyword masking.  When a logged SQL text contains the word PASSWORD
 *	  (or calls entropy_bits, where people try out their next password),
 *	  everything that could be the inside of a string literal is replaced by
 *	  a fixed-length mark: from the first quote ('...', E'...', $tag$...) to
 *	  the last one, and to the end of the text when a literal may be left
 *	  open.  A real SQL lexer would be fooled by a quote inside an
 *	  identifier ("it's") or a comment, by standard_conforming_strings, or
 *	  by the "SQL statement \"...\"" wrapper of CONTEXT lines; the span
 *	  cannot be.  SQL texts are the statement logged by log_statement /
 *	  log_min_duration_statement (recognised by the untranslated message
 *	  format) with its "parameters:" detail, CONTEXT lines and the internal
 *	  query; this covers statements logged before they run, and DO bodies.
 *	  In a syntax error, the token after PASSWORD (an unquoted or
 *	  double-quoted password) and the "at or near" token are masked too.
 *	  Prose (errors, DETAIL, HINT, RAISE output) keeps its apostrophes, but
 *	  a quoted literal right after the word PASSWORD is masked there too
 *	  (RAISE NOTICE of a statement).  When the statement being run
 *	  (debug_query_string) contains PASSWORD, its STATEMENT: line is
 *	  suppressed.
 *
 * 2. Remembered plaintext.  check_password_hook hands us every plaintext it
 *	  sees, whatever pgwarden.password_check says (pgw_logmask_remember());
 *	  any later occurrence of one in a log text is replaced by the mark and
 *	  STATEMENT: lines containing it are suppressed.  This covers passwords
 *	  that reached CREATE/ALTER ROLE through variables or function
 *	  arguments.  They are kept until a later statement starts a later
 *	  transaction, not just until this one ends: log_min_duration_statement
 *	  writes its line after the commit, and a procedure may COMMIT and go on
 *	  logging.
 *
 * The remembered copies live in TopMemoryContext and are zeroed when they
 * are forgotten.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/memutils.h"

#include "compat.h"
#include "logmask.h"

#define MASK			"********"
/* Remembered passwords shorter than this are not scrubbed (too many false hits). */
#define MIN_REMEMBERED	4
/* At most this many plaintexts per transaction are remembered (the latest). */
#define MAX_REMEMBERED	32

static emit_log_hook_type prev_emit_log_hook = NULL;
static char *remembered[MAX_REMEMBERED];
static int	nremembered = 0;
static bool remembered_xact_ended = false;
static LocalTransactionId remembered_lxid = InvalidLocalTransactionId;
static TimestampTz remembered_stmt_start = 0;
static bool xact_callback_registered = false;

static inline bool
is_ident_char(char c)
{
	return isalnum((unsigned char) c) || c == '_' || c == '$' ||
		(unsigned char) c >= 0x80;
}

/*
 * Does s contain "password", case-insensitively, anywhere?  A call of
 * pgwarden.entropy_bits() counts too: people try their next password on it.
 */
static bool
contains_password_keyword(const char *s)
{
	const char *p;

	if (s == NULL)
		return false;
	for (p = s; *p; p++)
		if (pg_strncasecmp(p, "password", 8) == 0 ||
			pg_strncasecmp(p, "entropy_bits", 12) == 0)
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
 * Would a lexer that reads text as SQL end inside a string literal (or a
 * quoted identifier)?  idents: know "identifiers" and comments; backslash:
 * a backslash escapes in plain literals (standard_conforming_strings off).
 */
static bool
ends_open(const char *text, bool idents, bool backslash)
{
	const char *p = text;

	while (*p)
	{
		int			tag;

		if (*p == '\'')
		{
			bool		esc = backslash ||
			(p > text && (p[-1] == 'E' || p[-1] == 'e') &&
			 (p - 1 == text || !is_ident_char(p[-2])));

			p++;
			for (;;)
			{
				if (*p == '\0')
					return true;
				if (esc && *p == '\\' && p[1])
					p += 2;
				else if (*p == '\'' && p[1] == '\'')
					p += 2;
				else if (*p == '\'')
					break;
				else
					p++;
			}
			p++;
		}
		else if (idents && *p == '"')
		{
			p = strchr(p + 1, '"');
			while (p && p[1] == '"')
				p = strchr(p + 2, '"');
			if (p == NULL)
				return true;
			p++;
		}
		else if (idents && p[0] == '-' && p[1] == '-')
		{
			p = strchr(p, '\n');
			if (p == NULL)
				return false;
		}
		else if (idents && p[0] == '/' && p[1] == '*')
		{
			int			depth = 1;

			p += 2;
			while (*p && depth > 0)
			{
				if (p[0] == '/' && p[1] == '*')
					depth++, p += 2;
				else if (p[0] == '*' && p[1] == '/')
					depth--, p += 2;
				else
					p++;
			}
		}
		else if ((tag = dollar_tag_len(p)) > 0 &&
				 (!idents || p == text || !is_ident_char(p[-1])))
		{
			const char *q;

			for (q = p + tag; *q; q++)
				if (strncmp(q, p, tag) == 0)
					break;
			if (*q == '\0')
				return true;
			p = q + tag;
		}
		else
			p++;
	}
	return false;
}

/*
 * Mask everything that could be inside a string literal of SQL text: from
 * just after the first opening quote (or dollar tag) to the last quote
 * (or closing dollar tag), or to the end when any reading of the text
 * leaves a literal open.  Returns a palloc'd string, or NULL when text
 * holds no quote.
 */
static char *
mask_literal_span(const char *text)
{
	const char *first = NULL;
	const char *last = NULL;
	const char *p;
	int			open_len = 0;
	bool		to_end;
	StringInfoData out;

	for (p = text; *p; p++)
	{
		if (*p == '\'' || *p == '$')
		{
			if (first == NULL)
			{
				int			tag = (*p == '$') ? dollar_tag_len(p) : 1;

				if (tag == 0)
					continue;	/* a lone $ (parameter, identifier) */
				first = p;
				open_len = tag;
				p += tag - 1;
				continue;
			}
			last = p;
		}
	}
	if (first == NULL)
		return NULL;

	to_end = (last == NULL ||
			  ends_open(text, false, false) || ends_open(text, false, true) ||
			  ends_open(text, true, false) || ends_open(text, true, true));

	/* a closing $tag$: keep the whole tag visible */
	if (!to_end && *last == '$')
	{
		const char *q = last - 1;

		while (q > first + open_len - 1 && *q != '$' &&
			   (isalnum((unsigned char) *q) || *q == '_' || (unsigned char) *q >= 0x80))
			q--;
		if (q >= first + open_len && *q == '$')
			last = q;
	}

	initStringInfo(&out);
	appendBinaryStringInfo(&out, text, (first - text) + open_len);
	appendStringInfoString(&out, MASK);
	if (!to_end)
		appendStringInfoString(&out, last);
	return out.data;
}

/*
 * Where the quoted literal opening at open ends: its closing quote, or the
 * terminating NUL when it is left open.
 */
static const char *
literal_end(const char *open, bool backslash)
{
	const char *r = open + 1;

	for (;;)
	{
		if (*r == '\0')
			return r;
		if (backslash && *r == '\\' && r[1])
			r += 2;
		else if (*r == '\'' && r[1] == '\'')
			r += 2;
		else if (*r == '\'')
			return r;
		else
			r++;
	}
}

/* Is "password" at p a word of its own? */
static bool
password_word_at(const char *text, const char *p)
{
	return pg_strncasecmp(p, "password", 8) == 0 &&
		(p == text || !is_ident_char(p[-1])) && !is_ident_char(p[8]);
}

/*
 * Mask the token that follows each word PASSWORD.  quoted_only: only a
 * quoted literal ('...', E'...', U&'...', $tag$...$tag$) is masked (prose);
 * otherwise a bare word (but NULL) or a "double-quoted" token is masked too
 * (the text of a statement that failed to parse).  Returns a palloc'd
 * string, or NULL when nothing was masked.
 */
static char *
mask_after_keyword(const char *text, bool quoted_only)
{
	StringInfoData out;
	const char *p = text;
	const char *copied = text;
	bool		changed = false;

	if (!contains_password_keyword(text))
		return NULL;
	initStringInfo(&out);
	while (*p)
	{
		const char *q;
		const char *open;
		const char *close;

		if (!password_word_at(text, p))
		{
			p++;
			continue;
		}
		q = p + 8;
		while (*q && isspace((unsigned char) *q))
			q++;
		open = q;
		if ((q[0] == 'E' || q[0] == 'e') && q[1] == '\'')
			open = q + 1;
		else if ((q[0] == 'U' || q[0] == 'u') && q[1] == '&' && q[2] == '\'')
			open = q + 2;

		close = NULL;
		if (*open == '\'')
		{
			/* whichever reading (backslash escapes or not) runs longer */
			const char *a = literal_end(open, true);
			const char *b = literal_end(open, false);

			open++;
			close = a > b ? a : b;
			/* "PASSWORD '...'" in a hint names no password */
			if (close - open == 3 && strncmp(open, "...", 3) == 0)
				close = open;
		}
		else if (*open == '$' && dollar_tag_len(open) > 0)
		{
			int			tag = dollar_tag_len(open);
			const char *r;

			for (r = open + tag; *r; r++)
				if (strncmp(r, open, tag) == 0)
					break;
			open += tag;
			close = r;
		}
		else if (!quoted_only && *open == '"')
		{
			const char *r = strchr(open + 1, '"');

			open++;
			close = r ? r : open + strlen(open);
		}
		else if (!quoted_only && *open && is_ident_char(*open) &&
				 !(pg_strncasecmp(open, "null", 4) == 0 && !is_ident_char(open[4])))
		{
			const char *r = open;

			while (*r && !isspace((unsigned char) *r) && *r != ';' &&
				   *r != ',' && *r != ')')
				r++;
			close = r;
		}

		if (close == NULL || close == open)
		{
			p = q > p + 8 ? q : p + 8;
			continue;
		}
		appendBinaryStringInfo(&out, copied, open - copied);
		appendStringInfoString(&out, MASK);
		copied = close;
		p = *close ? close + 1 : close;
		changed = true;
	}
	if (!changed)
	{
		pfree(out.data);
		return NULL;
	}
	appendStringInfoString(&out, copied);
	return out.data;
}

/*
 * Forget what was remembered once a later transaction has started.  Lines
 * written between transactions (log_min_duration_statement after a commit)
 * are still scrubbed.
 */
static void
forget_passwords(void)
{
	for (int i = 0; i < nremembered; i++)
	{
		explicit_bzero(remembered[i], strlen(remembered[i]));
		pfree(remembered[i]);
		remembered[i] = NULL;
	}
	nremembered = 0;
	remembered_xact_ended = false;
}

static void
forget_stale_passwords(void)
{
	/*
	 * A procedure that COMMITs starts new transactions within one statement:
	 * keep scrubbing until a later statement runs in a later transaction.
	 */
	if (nremembered > 0 && remembered_xact_ended && MyProc != NULL &&
		PGW_PROC_LXID(MyProc) != InvalidLocalTransactionId &&
		PGW_PROC_LXID(MyProc) != remembered_lxid &&
		GetCurrentStatementStartTimestamp() != remembered_stmt_start)
		forget_passwords();
}

/*
 * Replace every occurrence of a remembered plaintext in text by MASK.
 * Returns a palloc'd string, or NULL when there was none.
 */
static char *
scrub_remembered(const char *text)
{
	char	   *current = NULL;

	for (int i = nremembered - 1; i >= 0; i--)
	{
		const char *src = current ? current : text;
		const char *p = src;
		const char *hit;
		size_t		rlen = strlen(remembered[i]);
		StringInfoData out;

		if ((hit = strstr(src, remembered[i])) == NULL)
			continue;
		initStringInfo(&out);
		do
		{
			appendBinaryStringInfo(&out, p, hit - p);
			appendStringInfoString(&out, MASK);
			p = hit + rlen;
		} while ((hit = strstr(p, remembered[i])) != NULL);
		appendStringInfoString(&out, p);
		if (current)
			pfree(current);
		current = out.data;
	}
	return current;
}

typedef enum TextKind
{
	TEXT_PROSE,					/* messages, DETAIL, HINT */
	TEXT_SQL,					/* statements, CONTEXT, QUERY */
	TEXT_SQL_FAILED,			/* SQL text of a syntax error */
	TEXT_SQL_ALWAYS				/* literals masked without the keyword */
} TextKind;

/*
 * The masked form of text, or NULL when nothing in it needed masking.
 */
static char *
mask_text(const char *text, TextKind kind)
{
	char	   *masked = NULL;
	char	   *next;

	if (text == NULL)
		return NULL;
	if (kind == TEXT_SQL_ALWAYS ||
		(kind != TEXT_PROSE && contains_password_keyword(text)))
	{
		masked = mask_literal_span(text);
		if (kind == TEXT_SQL_FAILED &&
			(next = mask_after_keyword(masked ? masked : text, false)) != NULL)
		{
			if (masked)
				pfree(masked);
			masked = next;
		}
	}
	else if (kind == TEXT_PROSE &&
			 (next = mask_after_keyword(text, true)) != NULL)
		masked = next;

	next = scrub_remembered(masked ? masked : text);
	if (next)
	{
		if (masked)
			pfree(masked);
		masked = next;
	}
	return masked;
}

static void
mask_field(char **field, TextKind kind)
{
	char	   *masked = mask_text(*field, kind);

	if (masked)
		*field = masked;		/* the old text lives in ErrorContext too */
}

/*
 * The scanner's messages quote what it read ("syntax error at or near
 * "..."", "identifier "..." will be truncated to "..."", "unterminated
 * quoted string at or near "...""): when the statement mentions PASSWORD
 * that may be the password.  Mask from the first double quote to the last.
 */
static void
mask_quoted_span(char **message)
{
	const char *open;
	const char *close;
	StringInfoData out;

	if (*message == NULL || (open = strchr(*message, '"')) == NULL)
		return;
	close = strrchr(*message, '"');
	initStringInfo(&out);
	appendBinaryStringInfo(&out, *message, open + 1 - *message);
	appendStringInfoString(&out, MASK);
	if (close > open)
		appendStringInfoString(&out, close);
	else
		appendStringInfoChar(&out, '"');
	*message = out.data;
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
		strcmp(id, "%s %s%s%s: %s") == 0 || /* execute [fetch from] */
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
		bool		stmt_log = is_statement_log(edata);
		bool		scanner_msg = edata->sqlerrcode == ERRCODE_SYNTAX_ERROR ||
		edata->sqlerrcode == ERRCODE_NAME_TOO_LONG ||
		(edata->message != NULL && strstr(edata->message, " at or near \"") != NULL);
		bool		failed_parse = scanner_msg &&
		(contains_password_keyword(debug_query_string) ||
		 contains_password_keyword(edata->internalquery));
		TextKind	sql_kind = failed_parse ? TEXT_SQL_FAILED : TEXT_SQL;

		forget_stale_passwords();

		/*
		 * debug_print_parse/rewritten/plan (settable by anyone) dump the
		 * query tree, whose constants carry the literals' bytes: for a
		 * statement that mentions PASSWORD, leave the dump out.
		 */
		if (edata->funcname != NULL &&
			strcmp(edata->funcname, "elog_node_display") == 0 &&
			(contains_password_keyword(debug_query_string) ||
			 (debug_query_string != NULL && scrub_remembered(debug_query_string) != NULL)))
		{
			edata->detail = pstrdup("(not shown: the statement mentions a password)");
			edata->detail_log = NULL;
		}

		if (failed_parse)
			mask_quoted_span(&edata->message);
		/* a logged statement's "parameters: $1 = '...'" go with it */
		if (stmt_log && contains_password_keyword(edata->message))
		{
			mask_field(&edata->detail, TEXT_SQL_ALWAYS);
			mask_field(&edata->detail_log, TEXT_SQL_ALWAYS);
		}
		else
		{
			mask_field(&edata->detail, TEXT_PROSE);
			mask_field(&edata->detail_log, TEXT_PROSE);
		}
		mask_field(&edata->message, stmt_log ? TEXT_SQL : TEXT_PROSE);
		mask_field(&edata->hint, TEXT_PROSE);
		mask_field(&edata->context, sql_kind);
		mask_field(&edata->internalquery, sql_kind);

		if (!edata->hide_stmt && debug_query_string != NULL)
		{
			char	   *masked;

			if (contains_password_keyword(debug_query_string))
				edata->hide_stmt = true;
			else if ((masked = scrub_remembered(debug_query_string)) != NULL)
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
logmask_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		remembered_xact_ended = true;
}

/*
 * Remember a plaintext password so that later log lines can be scrubbed of
 * it (until a later transaction starts).
 */
void
pgw_logmask_remember(const char *password)
{
	forget_stale_passwords();
	if (strlen(password) < MIN_REMEMBERED)
		return;
	if (!xact_callback_registered)
	{
		RegisterXactCallback(logmask_xact_callback, NULL);
		xact_callback_registered = true;
	}
	for (int i = 0; i < nremembered; i++)
		if (strcmp(remembered[i], password) == 0)
			return;
	if (nremembered == MAX_REMEMBERED)
	{
		explicit_bzero(remembered[0], strlen(remembered[0]));
		pfree(remembered[0]);
		memmove(&remembered[0], &remembered[1], sizeof(char *) * (MAX_REMEMBERED - 1));
		nremembered--;
	}
	remembered[nremembered++] = MemoryContextStrdup(TopMemoryContext, password);
	remembered_lxid = MyProc ? PGW_PROC_LXID(MyProc) : InvalidLocalTransactionId;
	remembered_stmt_start = GetCurrentStatementStartTimestamp();
	remembered_xact_ended = false;
}

void
pgw_logmask_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = pgw_emit_log;
}
