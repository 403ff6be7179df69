/*
 * sqlcheck.h: the oracle of the fuzz targets that make SQL text (fuzz_body,
 * fuzz_filter): every word of that text must be an SQL keyword, a short
 * alias, a number or a name harvested from the code itself (the resource
 * descriptors and visibility rules), every quoted literal one the code
 * uses, the placeholders exactly $1..$n. So no byte of the input reaches
 * the SQL text.
 *
 * Included once by a target's .c file after it defines FAIL(...) (report
 * and abort); the target harvests its extra words, then calls
 * sqlcheck_harvest_resources().
 */
#ifndef OES_FUZZ_SQLCHECK_H
#define OES_FUZZ_SQLCHECK_H

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/access.h"
#include "core/resource.h"
#include "core/sqlbuf.h"
#include "handlers/resources.h"

#define VOCAB_MAX 4096

static char *vocab[VOCAB_MAX];
static int nvocab;
static char *literals[256];
static int nliterals;

static int in_list(char **list, int n, const char *s, size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
			return 1;
	return 0;
}

static void add_word(const char *s, size_t len)
{
	if (len == 0 || in_list(vocab, nvocab, s, len) || nvocab == VOCAB_MAX)
		return;
	vocab[nvocab++] = strndup(s, len);
}

/* Adds every word and every quoted literal of trusted text. */
static void harvest(const char *s)
{
	if (!s)
		return;
	while (*s) {
		if (*s == '\'') {
			const char *e = strchr(s + 1, '\'');
			if (!e)
				return;
			if (!in_list(literals, nliterals, s + 1, (size_t)(e - s - 1)) &&
			    nliterals < 256)
				literals[nliterals++] = strndup(s + 1, (size_t)(e - s - 1));
			s = e + 1;
		} else if (isalpha((unsigned char)*s) || *s == '_') {
			const char *b = s;
			while (isalnum((unsigned char)*s) || *s == '_')
				s++;
			add_word(b, (size_t)(s - b));
		} else {
			s++;
		}
	}
}

/* Harvests the names of every descriptor and the visibility and role SQL of
 * three callers (anonymous, a user, an admin) in every trash mode; with
 * selects, also the select lists under the aliases t, ins and upd. */
static void sqlcheck_harvest_resources(int selects)
{
	struct principal ps[3] = {{0}, {.user_id = 7}, {.user_id = 8, .is_admin = 1}};
	for (int i = 0; i < nall_resources; i++) {
		const struct resource *r = all_resources[i];
		harvest(r->table);
		harvest(r->event_col);
		harvest(r->default_sort);
		for (int a = 0; a < r->nattrs; a++)
			harvest(r->attrs[a].column);
		for (int k = 0; k < r->nrels; k++) {
			const struct resource_rel *rel = &r->rels[k];
			harvest(rel->fk);
			harvest(rel->join_table);
			harvest(rel->join_self);
			harvest(rel->join_other);
			harvest(rel->sql_target_ids);
		}
		for (int p = 0; p < 3; p++)
			for (int trash = TRASH_HIDE; trash <= TRASH_ONLY; trash++) {
				struct sqlbuf b;
				sqlbuf_init(&b);
				access_visible(r, "t", &ps[p], trash, &b);
				access_roles_sql("t.event_id", &ps[p], &b);
				harvest(b.s);
				sqlbuf_free(&b);
				if (!selects)
					continue;
				static const char *const aliases[] = {"t", "ins", "upd"};
				sqlbuf_init(&b);
				resource_select_list(r, aliases[trash], &b);
				harvest(b.s);
				sqlbuf_free(&b);
			}
	}
}

static int alias_word(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && i < 3 && s[i] >= 'a' && s[i] <= 'z')
		i++;
	if (i == 0 || i == len)
		return 0;
	for (; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Checks SQL text built by the code: see the header comment. */
static void check_sql(const char *sql, int nparams)
{
	int depth = 0;
	static unsigned char seen[SQLBUF_MAX_PARAMS + 1];
	memset(seen, 0, sizeof(seen));
	for (const char *s = sql; *s;) {
		char c = *s;
		if (c == '\'') {
			const char *e = strchr(s + 1, '\'');
			if (!e)
				FAIL("unbalanced quote in SQL: %s", sql);
			if (!in_list(literals, nliterals, s + 1, (size_t)(e - s - 1)))
				FAIL("literal '%.*s' not made by the code in SQL: %s",
				     (int)(e - s - 1), s + 1, sql);
			s = e + 1;
			continue;
		}
		if (c == '"' || c == ';' || c == '\\' || (c == '-' && s[1] == '-') ||
		    (c == '/' && s[1] == '*'))
			FAIL("'%c' outside a literal in SQL: %s", c, sql);
		if (c == '(')
			depth++;
		if (c == ')' && --depth < 0)
			FAIL("unbalanced ')' in SQL: %s", sql);
		if (c == '$') {
			char *end;
			long n = strtol(s + 1, &end, 10);
			if (end == s + 1 || n < 1 || n > nparams || seen[n])
				FAIL("placeholder $%ld (of %d) missing, out of range or repeated: "
				     "%s",
				     n, nparams, sql);
			seen[n] = 1;
			s = end;
			continue;
		}
		if (isalpha((unsigned char)c) || c == '_') {
			const char *b = s;
			int upper = 1;
			while (isalnum((unsigned char)*s) || *s == '_') {
				if (islower((unsigned char)*s))
					upper = 0;
				s++;
			}
			size_t len = (size_t)(s - b);
			if (!upper && !alias_word(b, len) && !in_list(vocab, nvocab, b, len))
				FAIL("word '%.*s' not made by the code in SQL: %s", (int)len, b,
				     sql);
			continue;
		}
		if (isdigit((unsigned char)c)) {
			while (isdigit((unsigned char)*s))
				s++;
			continue;
		}
		if (!strchr(" ().,=<>!:*+-_[]{}#", c) && c != '\n')
			FAIL("byte 0x%02x outside a literal in SQL: %s", (unsigned char)c, sql);
		s++;
	}
	if (depth != 0)
		FAIL("unbalanced '(' in SQL: %s", sql);
	for (int i = 1; i <= nparams; i++)
		if (!seen[i])
			FAIL("parameter $%d not used in SQL: %s", i, sql);
}

#endif
