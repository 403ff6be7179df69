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

int workers_submit_big(void)
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

static const char *cur_text;

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_filter: " __VA_ARGS__);                                      \
		fprintf(stderr, "\n  filter: %.400s\n", cur_text);                                 \
		abort();                                                                           \
	} while (0)

#include "sqlcheck.h"

/* ---- the vocabulary of code-made SQL ---- */

static const char *const lower_words[] = {"t", "text", "x", "now", "unnest", "to_json", NULL};

static void build_vocab(void)
{
	for (const char *const *w = lower_words; *w; w++)
		harvest(*w);
	sqlcheck_harvest_resources(0);
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
