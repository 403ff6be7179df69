/*
 * fuzz_query: libFuzzer target for the query string (src/core/query.c), the
 * pagination links built from it (jsonapi_write_paging, src/core/jsonw.c)
 * and the media-type rules (jsonapi_check_media).
 *
 * Input: up to three lines: the query string, the Content-Type header and
 * the Accept header. Page limits, counts and buffer sizes come from a hash
 * of the input.
 *
 * Oracles:
 *  - query_parse against a naive decoder written here from query.h ('&'
 *    splits, empty pairs skipped, first '=' splits, '+' is a space, %XX
 *    with two hex digits, %00 and malformed escapes refused with the key);
 *  - query_page against the rules in query.h;
 *  - query_link: the length it reports is the length it writes, the text
 *    is cut and NUL-terminated in small buffers, and parsing its query part
 *    gives back every parameter in order followed by the page;
 *  - jsonapi_write_paging writes valid JSON (json-c, strict) whose links
 *    parse back the same way;
 *  - jsonapi_check_media returns 0, 415 (only with a body) or 406.
 *
 * fuzz-sources: src/core/query.c src/core/jsonapi.c src/core/jsonw.c
 * fuzz-max-len: 8192
 * fuzz-pkgs: json-c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/jsonapi.h"
#include "core/jsonw.h"
#include "core/query.h"

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_query: " __VA_ARGS__);                                       \
		fprintf(stderr, "\n");                                                             \
		abort();                                                                           \
	} while (0)

struct kv {
	char *k, *v;
};

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reference decoding of s[0..n); NULL when malformed. */
static char *ref_decode(const char *s, size_t n)
{
	char *o = malloc(n + 1);
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			o[j++] = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= n) { /* fewer than two characters follow */
				free(o);
				return NULL;
			}
			int a = hexv(s[i + 1]), b = hexv(s[i + 2]);
			if (a < 0 || b < 0 || (a == 0 && b == 0)) {
				free(o);
				return NULL;
			}
			o[j++] = (char)(a * 16 + b);
			i += 2;
		} else {
			o[j++] = s[i];
		}
	}
	o[j] = '\0';
	return o;
}

/* Reference parse; returns the count or -1 (malformed), *bad = offending key. */
static int ref_parse(const char *qs, struct kv *out, int max, char **bad)
{
	int n = 0;
	*bad = NULL;
	const char *p = qs;
	while (*p) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 0) {
			const char *eq = memchr(p, '=', len);
			size_t kl = eq ? (size_t)(eq - p) : len;
			char *k = ref_decode(p, kl);
			if (!k) {
				*bad = strndup(p, kl);
				goto fail;
			}
			char *v = eq ? ref_decode(eq + 1, len - kl - 1) : strdup("");
			if (!v) {
				*bad = k;
				goto fail;
			}
			if (n == max) {
				free(k);
				free(v);
				goto fail;
			}
			out[n].k = k;
			out[n].v = v;
			n++;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return n;
fail:
	for (int i = 0; i < n; i++) {
		free(out[i].k);
		free(out[i].v);
	}
	return -1;
}

static int digits_upto(const char *s, long max, long *out)
{
	long v = 0;
	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

static const char *first(const struct kv *kv, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(kv[i].k, key) == 0)
			return kv[i].v;
	return NULL;
}

static int is_page(const char *k)
{
	return strcmp(k, "page[number]") == 0 || strcmp(k, "page[size]") == 0;
}

/* The query part of a link parses back to q's non-page params then the page. */
static void check_link(const char *link, const char *path, const struct query *q, long number,
		       long size)
{
	size_t pl = strlen(path);
	if (strncmp(link, path, pl) != 0)
		FAIL("link %s does not start with %s", link, path);
	const char *qs = link + pl;
	if (*qs == '?')
		qs++;
	else if (*qs != '\0')
		FAIL("link %s: no '?' after the path", link);
	struct query back;
	const char *bad = NULL;
	if (query_parse(&back, qs, &bad) != 0)
		FAIL("link %s does not parse back (bad key %s)", link, bad ? bad : "?");
	size_t j = 0;
	for (size_t i = 0; i < q->n; i++) {
		if (is_page(q->items[i].key))
			continue;
		if (j >= back.n || strcmp(back.items[j].key, q->items[i].key) != 0 ||
		    strcmp(back.items[j].value, q->items[i].value) != 0)
			FAIL("link %s: parameter %zu (%s) lost or changed", link, i,
			     q->items[i].key);
		j++;
	}
	if (size != 0) {
		char nb[32], sb[32];
		snprintf(nb, sizeof(nb), "%ld", number);
		snprintf(sb, sizeof(sb), "%ld", size);
		if (j + 2 != back.n || strcmp(back.items[j].key, "page[number]") != 0 ||
		    strcmp(back.items[j].value, nb) != 0 ||
		    strcmp(back.items[j + 1].key, "page[size]") != 0 ||
		    strcmp(back.items[j + 1].value, sb) != 0)
			FAIL("link %s: page[number]=%s&page[size]=%s not at its end", link, nb, sb);
	} else if (j != back.n) {
		FAIL("link %s: extra parameters", link);
	}
	query_free(&back);
}

static uint32_t hash(const uint8_t *d, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ d[i]) * 16777619u;
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	uint32_t hv = hash(data, size);
	/* lines: query string, Content-Type, Accept (a NUL also ends a line) */
	char *qs = buf, *ct = NULL, *accept = NULL;
	char *nl = strchr(qs, '\n');
	if (nl) {
		*nl = '\0';
		ct = nl + 1;
		nl = strchr(ct, '\n');
		if (nl) {
			*nl = '\0';
			accept = nl + 1;
			nl = strchr(accept, '\n');
			if (nl)
				*nl = '\0';
		}
	}

	/* ---- query_parse vs the reference ---- */
	struct query q;
	const char *bad = NULL;
	int rc = query_parse(&q, qs, &bad);
	struct kv want[4096];
	char *want_bad = NULL;
	int wn = ref_parse(qs, want, 4096, &want_bad);
	if (wn < 0 && want_bad == NULL) {
		/* more pairs than the reference holds: only check it did not crash */
		query_free(&q);
		free(buf);
		return 0;
	}
	if ((rc == 0) != (wn >= 0))
		FAIL("query_parse(\"%s\") = %d, reference %s", qs, rc,
		     wn >= 0 ? "ok" : "malformed");
	if (rc != 0) {
		if (!bad || strcmp(bad, want_bad) != 0)
			FAIL("query_parse(\"%s\"): bad key \"%s\", reference \"%s\"", qs,
			     bad ? bad : "(null)", want_bad);
		if (q.n != 0 || q.items != NULL)
			FAIL("query_parse failed but kept %zu pairs", q.n);
		free(want_bad);
		query_free(&q);
		query_free(&q);
		free(buf);
		return 0;
	}
	if ((size_t)wn != q.n)
		FAIL("query_parse(\"%s\"): %zu pairs, reference %d", qs, q.n, wn);
	for (int i = 0; i < wn; i++) {
		if (strcmp(q.items[i].key, want[i].k) != 0 ||
		    strcmp(q.items[i].value, want[i].v) != 0)
			FAIL("query_parse(\"%s\"): pair %d is %s=%s, reference %s=%s", qs, i,
			     q.items[i].key, q.items[i].value, want[i].k, want[i].v);
		const char *g = query_get(&q, want[i].k);
		if (!g || strcmp(g, first(want, wn, want[i].k)) != 0)
			FAIL("query_get(%s) is not the first value", want[i].k);
	}

	/* ---- query_page ---- */
	int max = (int)(hv % 200);
	long ps = -1, pn = -1;
	const char *pbad = NULL;
	int prc = query_page(&q, max, &ps, &pn, &pbad);
	long ws = 20, wnum = 1;
	const char *wbad = NULL;
	const char *v = first(want, wn, "page[size]");
	if (v && digits_upto(v, max, &ws) < 0)
		wbad = "page[size]";
	v = first(want, wn, "page[number]");
	if (!wbad && v && (digits_upto(v, 2147483647L, &wnum) < 0 || wnum < 1))
		wbad = "page[number]";
	if ((prc == 0) != (wbad == NULL))
		FAIL("query_page(max %d) = %d, reference %s", max, prc, wbad ? wbad : "ok");
	if (prc != 0 && strcmp(pbad, wbad) != 0)
		FAIL("query_page blamed %s, reference %s", pbad, wbad);
	if (prc == 0 && (ps != ws || pn != wnum))
		FAIL("query_page: size %ld number %ld, reference %ld %ld", ps, pn, ws, wnum);

	/* ---- query_link ---- */
	long number = prc == 0 ? pn : 1 + (long)(hv % 1000);
	long psize = prc == 0 ? ps : (long)(hv % 50);
	const char *path = (hv & 1) ? "/v1/events" : "/v1/events/1a2b3c4d/sessions";
	size_t need = query_link(NULL, 0, path, &q, number, psize);
	char *link = malloc(need + 1);
	if (query_link(link, need + 1, path, &q, number, psize) != need || strlen(link) != need)
		FAIL("query_link reported %zu bytes but wrote %zu", need, strlen(link));
	check_link(link, path, &q, number, psize);
	size_t small = hv % (need + 2);
	char *cut = malloc(small + 1);
	memset(cut, 'Z', small + 1);
	query_link(cut, small, path, &q, number, psize);
	if (small > 0 && (strnlen(cut, small) != (small - 1 < need ? small - 1 : need) ||
			  strncmp(cut, link, strnlen(cut, small)) != 0))
		FAIL("query_link into %zu bytes wrote \"%.*s\"", small, (int)small, cut);
	if (cut[small] != 'Z')
		FAIL("query_link wrote past %zu bytes", small);
	free(cut);

	/* query_escape of every value decodes back */
	for (size_t i = 0; i < q.n; i++) {
		size_t en = query_escape(NULL, 0, q.items[i].value);
		char *e = malloc(en + 1);
		query_escape(e, en + 1, q.items[i].value);
		for (const char *c = e; *c; c++)
			if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
			      (*c >= '0' && *c <= '9') || strchr("-_.~%", *c)))
				FAIL("query_escape left '%c' in %s", *c, e);
		char *d = ref_decode(e, en);
		if (!d || strcmp(d, q.items[i].value) != 0)
			FAIL("query_escape(%s) = %s does not decode back", q.items[i].value, e);
		free(d);
		free(e);
	}

	/* ---- pagination links are valid JSON that parse back ---- */
	struct jw w;
	jw_init(&w);
	jw_lit(&w, "{");
	long count = (long)(hv >> 8) % 100000;
	jsonapi_write_paging(&w, path, &q, count, number, psize);
	jw_lit(&w, "}");
	const char *text = jw_text(&w);
	if (text) {
		struct json_tokener *tok = json_tokener_new();
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
		struct json_object *doc = json_tokener_parse_ex(tok, text, (int)strlen(text));
		if (!doc || json_tokener_get_parse_end(tok) != strlen(text))
			FAIL("paging JSON does not parse: %s", text);
		json_tokener_free(tok);
		struct json_object *links, *self, *meta, *cnt;
		if (!json_object_object_get_ex(doc, "links", &links) ||
		    !json_object_object_get_ex(links, "self", &self) ||
		    !json_object_object_get_ex(doc, "meta", &meta) ||
		    !json_object_object_get_ex(meta, "count", &cnt) ||
		    json_object_get_int64(cnt) != count)
			FAIL("paging JSON lacks links.self or meta.count: %s", text);
		check_link(json_object_get_string(self), path, &q, number, psize);
		json_object_put(doc);
	}
	jw_free(&w);
	free(link);

	/* ---- media types ---- */
	int has_body = (hv >> 3) & 1;
	int m = jsonapi_check_media(ct, has_body, accept);
	if (m != 0 && m != 415 && m != 406)
		FAIL("jsonapi_check_media = %d", m);
	if (m == 415 && !has_body)
		FAIL("jsonapi_check_media: 415 without a body");
	if (has_body && ct && strcmp(ct, JSONAPI_MEDIA_TYPE) == 0 && m == 415)
		FAIL("jsonapi_check_media: 415 for exactly %s", ct);
	if (has_body && (!ct || !strstr(ct, "/")) && m != 415)
		FAIL("jsonapi_check_media: Content-Type \"%s\" taken", ct ? ct : "(none)");

	for (int i = 0; i < wn; i++) {
		free(want[i].k);
		free(want[i].v);
	}
	query_free(&q);
	free(buf);
	return 0;
}
