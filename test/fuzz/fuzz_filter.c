/*
 * fuzz_filter: libFuzzer target for the `filter` query parameter compiler
 * (filter_sql, src/core/filter.c) over the server's real resource
 * descriptors (src/handlers/<type>.c) and visibility rules (src/core/access.c).
 *
 * Input: byte 0 picks the resource type, byte 1 the caller (anonymous, a
 * user, an admin), the rest is the filter text as it arrives decoded from
 * the query string.
 *
 * Oracles: filter_sql returns 0 or -1; on -1 the message is set; on 0 the
 * statement fragment is safe SQL built only from the code:
 *   - it is " AND (...)", its parentheses and quotes balance, it has no
 *     ';', "--" or "/ *" outside quotes;
 *   - every word in it is an SQL keyword (upper case), a short alias
 *     (f1, jf2), a number, or a name from the descriptors and the
 *     visibility rules (harvested at start-up from the same code), and
 *     every quoted literal is one those rules use: no byte of the input
 *     reaches the SQL text;
 *   - the $n placeholders are exactly $1..$nparams, each once.
 * Deep or wide filters must be refused, not recurse without bound (ASan
 * catches a stack overflow), and filter text over 8 KiB is refused.
 *
 * fuzz-sources: src/core/filter.c src/core/access.c src/core/resource.c src/core/sqlbuf.c
 * fuzz-sources: src/core/jsonw.c src/core/jsonapi.c src/core/query.c src/core/mailaddr.c @resource-files
 * fuzz-pkgs: json-c libpq libsodium
 * fuzz-max-len: 9000
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/access.h"
#include "core/crud.h"
#include "core/filter.h"
#include "core/req_ctx.h"
#include "core/sqlbuf.h"
#include "handlers/resources.h"

/* ---- fakes of what the descriptors' write hooks call (never called here) ---- */

int crud_set_column(struct write_ctx *w, const char *column, const char *value)
{
	(void)w, (void)column, (void)value;
	abort();
}

void crud_write_resume(struct write_ctx *w, int ok)
{
	(void)w, (void)ok;
	abort();
}

int password_hash(void)
{
	abort();
}

int workers_submit(void)
{
	abort();
}

int req_ctx_alive(const struct req_ctx *ctx)
{
	(void)ctx;
	abort();
}

void req_ctx_ref(struct req_ctx *ctx)
{
	(void)ctx;
	abort();
}

void req_ctx_unref(struct req_ctx *ctx)
{
	(void)ctx;
	abort();
}

void req_ctx_reply_error(struct req_ctx *ctx, int status, const char *detail, const char *pointer,
			 const char *parameter)
{
	(void)ctx, (void)status, (void)detail, (void)pointer, (void)parameter;
	abort();
}

/* ---- the vocabulary of code-made SQL ---- */

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

static const char *const lower_words[] = {"t", "text", "x", "now", "unnest", "to_json", NULL};

static void build_vocab(void)
{
	for (const char *const *w = lower_words; *w; w++)
		harvest(*w);
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
			}
	}
}

static const char *cur_text;

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_filter: " __VA_ARGS__);                                      \
		fprintf(stderr, "\n  filter: %.400s\n", cur_text);                                 \
		abort();                                                                           \
	} while (0)

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!nvocab)
		build_vocab();
	if (size < 2 || size > 20000)
		return 0;
	const struct resource *r = all_resources[data[0] % nall_resources];
	struct principal p = {0};
	switch (data[1] % 3) {
	case 1:
		p.user_id = 7;
		break;
	case 2:
		p.user_id = 8;
		p.is_admin = 1;
		break;
	}
	char *text = malloc(size - 1);
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';
	cur_text = text;

	struct sqlbuf b;
	sqlbuf_init(&b);
	char err[256];
	memset(err, 'E', sizeof(err));
	int rc = filter_sql(text, r, "t", &p, &b, err, sizeof(err));
	if (rc == -1) {
		if (!memchr(err, '\0', sizeof(err)) || !err[0])
			FAIL("refused without a NUL-terminated message");
	} else if (rc == 0) {
		if (strlen(text) > 8192)
			FAIL("took %zu bytes of filter text", strlen(text));
		if (!sqlbuf_failed(&b)) {
			if (strncmp(b.s, " AND (", 6) != 0 || b.s[b.len - 1] != ')')
				FAIL("fragment is not \" AND (...)\": %s", b.s);
			check_sql(b.s, b.nparams);
		}
	} else {
		FAIL("filter_sql returned %d", rc);
	}
	sqlbuf_free(&b);
	free(text);
	return 0;
}
