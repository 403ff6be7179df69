/*
 * fuzz_jwt: libFuzzer target for auth_parse_header (src/core/auth.c): the
 * Authorization header, the token's shape, libjwt's decoding and our claim
 * checks.
 *
 * Input: byte 0 chooses the mode.
 *   even: the rest is the header value as sent (seeds hold real tokens
 *         signed with the key below, so mutations start from valid ones);
 *   odd:  the rest is "<header JSON>\n<payload JSON>": the target encodes
 *         both, signs them with HS256 and the server's key (or, by bits of
 *         byte 0, with another key, no signature, a truncated signature),
 *         and sends "JWT <token>" (or "Bearer", odd spacing). This reaches
 *         the claim checks, which a random signature never would.
 *
 * Oracles: the return value is -1 or 1 (never 0 for a header that is
 * there); on -1 the principal is all zero and `why` is set and holds no
 * part of the token; on 1 the signature really is HMAC-SHA256 over
 * header.payload with the server's key (checked here with libsodium), the
 * header's alg is exactly "HS256", identity is a positive integer equal to
 * user_id, exp is in the future, nbf (when an integer) is not, and jti is
 * NUL-terminated in its 64 bytes.
 *
 * fuzz-sources: src/core/auth.c src/core/log.c
 * fuzz-max-len: 8192
 * fuzz-pkgs: libjwt json-c libsodium libpq libevent
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "core/auth.h"
#include "core/config.h"
#include "core/req_ctx.h"

#define KEY	  "fuzz-secret-key-0123456789abcdef0123456789abcdef"
#define OTHER_KEY "another-key-fedcba9876543210fedcba9876543210"

struct config cfg;

/* ---- fakes: auth_parse_header never reaches these ---- */

const char *req_ctx_header(const struct req_ctx *ctx, const char *name)
{
	(void)ctx, (void)name;
	abort();
}

void req_ctx_add_header(struct req_ctx *ctx, const char *name, const char *value)
{
	(void)ctx, (void)name, (void)value;
	abort();
}

void req_ctx_reply_error(struct req_ctx *ctx, int status, const char *detail, const char *pointer,
			 const char *parameter)
{
	(void)ctx, (void)status, (void)detail, (void)pointer, (void)parameter;
	abort();
}

int req_ctx_query(struct req_ctx *ctx, int flags, const char *stmt, const char *sql, int nparams,
		  const char *const *params, req_db_cb cb, void *arg)
{
	(void)ctx, (void)flags, (void)stmt, (void)sql, (void)nparams, (void)params, (void)cb,
	    (void)arg;
	abort();
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "fuzz_jwt: " __VA_ARGS__);                                         \
		fprintf(stderr, "\n  header: %.300s\n", header);                                   \
		abort();                                                                           \
	} while (0)

static void b64url(const unsigned char *in, size_t n, char *out)
{
	sodium_bin2base64(out,
			  sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
			  in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Lenient base64url decoding (trailing bits ignored); returns the length or -1. */
static long unb64url(const char *s, size_t n, unsigned char *out, size_t cap)
{
	unsigned acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=')
			break;
		int v = b64val(s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
		}
		acc &= (1u << bits) - 1;
	}
	return (long)o;
}

static void hmac(const char *key, const char *msg, size_t n, unsigned char out[32])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, n);
	crypto_auth_hmacsha256_final(&st, out);
}

/* The token in a header value: after the scheme and blanks, up to a blank. */
static const char *token_of(const char *h, size_t *len)
{
	while (*h == ' ' || *h == '\t')
		h++;
	h += strcspn(h, " \t");
	while (*h == ' ' || *h == '\t')
		h++;
	*len = strcspn(h, " \t");
	return h;
}

/* Decodes a JWT part into a json-c object, or NULL. */
static struct json_object *part_json(const char *s, size_t n)
{
	unsigned char *bin = malloc(n + 1);
	long bl = unb64url(s, n, bin, n + 1);
	struct json_object *o = NULL;
	if (bl >= 0) {
		struct json_tokener *tok = json_tokener_new();
		o = json_tokener_parse_ex(tok, (const char *)bin, (int)bl);
		json_tokener_free(tok);
	}
	free(bin);
	return o;
}

static void check_accepted(const char *header, const struct principal *p)
{
	size_t n;
	const char *t = token_of(header, &n);
	const char *d1 = memchr(t, '.', n);
	const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - t)) : NULL;
	if (!d1 || !d2)
		FAIL("accepted a token without two dots");
	unsigned char want[32], got[64];
	hmac(KEY, t, (size_t)(d2 - t), want);
	long gl = unb64url(d2 + 1, n - (size_t)(d2 + 1 - t), got, sizeof(got));
	if (gl != 32 || memcmp(got, want, 32) != 0)
		FAIL("accepted a token whose signature is not HMAC-SHA256 with the key");
	struct json_object *hd = part_json(t, (size_t)(d1 - t));
	struct json_object *pl = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
	struct json_object *alg, *idv, *exp, *nbf;
	if (!hd || !json_object_object_get_ex(hd, "alg", &alg) ||
	    !json_object_is_type(alg, json_type_string) ||
	    strcmp(json_object_get_string(alg), "HS256") != 0)
		FAIL("accepted a token whose header alg is not \"HS256\"");
	if (!pl || !json_object_object_get_ex(pl, "identity", &idv) ||
	    !json_object_is_type(idv, json_type_int) || json_object_get_int64(idv) != p->user_id ||
	    p->user_id <= 0)
		FAIL("accepted identity %lld that is not the payload's positive integer",
		     p->user_id);
	long long now = (long long)time(NULL);
	if (!json_object_object_get_ex(pl, "exp", &exp) ||
	    !json_object_is_type(exp, json_type_int) || json_object_get_int64(exp) < now ||
	    p->exp != json_object_get_int64(exp))
		FAIL("accepted a token whose exp is missing, not an integer or past");
	if (json_object_object_get_ex(pl, "nbf", &nbf) &&
	    (!json_object_is_type(nbf, json_type_int) || json_object_get_int64(nbf) > now + 1))
		FAIL("accepted a token whose nbf is not an integer or in the future");
	if (memchr(p->jti, '\0', sizeof(p->jti)) == NULL)
		FAIL("jti not NUL-terminated");
	json_object_put(hd);
	json_object_put(pl);
}

static void check_refused(const char *header, const struct principal *p, const char *why)
{
	static const struct principal zero;
	if (memcmp(p, &zero, sizeof(zero)) != 0)
		FAIL("refused, but the principal is not cleared (user_id %lld)", p->user_id);
	if (!why[0])
		FAIL("refused without a reason");
	/* the reason never quotes the token: no 16-character run of it */
	size_t n;
	const char *t = token_of(header, &n);
	for (size_t i = 0; i + 16 <= n; i += 8)
		if (memmem(why, strlen(why), t + i, 16))
			FAIL("the reason \"%s\" quotes the token", why);
}

static char *build(const uint8_t *data, size_t size, int mode)
{
	const char *sep = memchr(data, '\n', size);
	size_t hl = sep ? (size_t)(sep - (const char *)data) : size;
	size_t pl = sep ? size - hl - 1 : 0;
	const unsigned char *hj = data, *pj = sep ? (const unsigned char *)sep + 1 : data;
	size_t cap = 4 * (hl + pl) / 3 + 256;
	char *tok = malloc(cap), *out = malloc(cap + 32);
	b64url(hj, hl, tok);
	size_t n = strlen(tok);
	tok[n++] = '.';
	b64url(pj, pl, tok + n);
	n = strlen(tok);
	unsigned char mac[32];
	int sig = (mode >> 1) & 3; /* 0, 1: our key; 2: another key; 3: none */
	hmac(sig == 2 ? OTHER_KEY : KEY, tok, n, mac);
	tok[n++] = '.';
	if (sig != 3)
		b64url(mac, (mode & 0x40) ? 31 : 32, tok + n);
	else
		tok[n] = '\0';
	static const char *const schemes[] = {"JWT ", "Bearer ", "jwt\t", " BEARER  "};
	snprintf(out, cap + 32, "%s%s%s", schemes[(mode >> 3) & 3], tok, (mode & 0x20) ? " " : "");
	free(tok);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!cfg.secret_key) {
		cfg.secret_key = KEY;
		cfg.jwt_ttl_s = 3600;
		if (sodium_init() < 0)
			abort();
	}
	if (size < 1 || size > 16384)
		return 0;
	int mode = data[0];
	char *header;
	if (mode & 1) {
		header = build(data + 1, size - 1, mode);
	} else {
		header = malloc(size);
		memcpy(header, data + 1, size - 1);
		header[size - 1] = '\0';
	}
	struct principal p;
	memset(&p, 0x5a, sizeof(p));
	char why[160];
	memset(why, 'W', sizeof(why));
	size_t whylen = 8 + (size_t)(mode >> 2) % 152; /* short buffers too */
	int rc = auth_parse_header(header, &p, why, whylen);
	if (memchr(why, '\0', whylen) == NULL)
		FAIL("why not NUL-terminated in %zu bytes", whylen);
	for (size_t i = whylen; i < sizeof(why); i++)
		if (why[i] != 'W')
			FAIL("why written past its %zu bytes", whylen);
	if (rc == 1)
		check_accepted(header, &p);
	else if (rc == -1)
		check_refused(header, &p, why);
	else
		FAIL("auth_parse_header returned %d for a header that is there", rc);
	/* a NULL header is anonymous */
	if (auth_parse_header(NULL, &p, why, whylen) != 0 || p.user_id != 0)
		FAIL("NULL header not anonymous");
	free(header);
	return 0;
}
