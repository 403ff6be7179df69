/*
 * dataurl: the data-URL decoder. The header (up to the first comma) is
 * parsed by hand; the payload goes to libsodium's sodium_base642bin with the
 * variant the payload's alphabet and padding call for, whitespace ignored,
 * after its decoded size has been checked against the caller's limit.
 *
 * Owns: nothing between calls. Never: allocates more than the decoded size
 * (plus one byte); reads past s + len.
 */
#include "core/dataurl.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

static int is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses the header s[0..n) (between "data:" and the comma). */
static int parse_header(const char *s, size_t n, struct dataurl *out)
{
	size_t i = 0, item = 0;
	while (i <= n) {
		size_t j = i;
		while (j < n && s[j] != ';')
			j++;
		const char *v = s + i;
		size_t vlen = j - i;
		while (vlen > 0 && is_ws((unsigned char)v[0]))
			v++, vlen--;
		while (vlen > 0 && is_ws((unsigned char)v[vlen - 1]))
			vlen--;
		if (item == 0 && memchr(v, '=', vlen) == NULL) {
			/* the media type (may be empty) */
			if (vlen >= sizeof(out->type))
				return -1;
			if (vlen > 0 && (!memchr(v, '/', vlen)))
				return -1;
			for (size_t k = 0; k < vlen; k++) {
				unsigned char c = (unsigned char)v[k];
				if (c <= ' ' || c >= 0x7f)
					return -1;
				out->type[k] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
			}
			out->type[vlen] = '\0';
		} else if (vlen == 6 && strncasecmp(v, "base64", 6) == 0) {
			if (j != n)
				return -1; /* ;base64 comes last */
			out->base64 = 1;
		} else if (vlen == 0 || !memchr(v, '=', vlen)) {
			return -1; /* parameters are attribute=value */
		}
		item++;
		i = j + 1;
	}
	return 0;
}

static int decode_base64(const char *p, size_t n, size_t max_bytes, struct dataurl *out)
{
	size_t chars = 0, pad = 0;
	int urlsafe = 0, standard = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (is_ws(c))
			continue;
		chars++;
		if (c == '=')
			pad++;
		else if (pad)
			return DATAURL_ERR_SYNTAX; /* data after padding */
		else if (c == '-' || c == '_')
			urlsafe = 1;
		else if (c == '+' || c == '/')
			standard = 1;
	}
	if (urlsafe && standard)
		return DATAURL_ERR_SYNTAX;
	if (pad > 2 || (pad && chars % 4 != 0) || chars % 4 == 1)
		return DATAURL_ERR_SYNTAX;
	size_t data_chars = chars - pad;
	size_t decoded = data_chars / 4 * 3 + (data_chars % 4 ? data_chars % 4 - 1 : 0);
	if (decoded > max_bytes)
		return DATAURL_ERR_TOO_BIG;
	int variant;
	if (pad || chars % 4 == 0)
		variant = urlsafe ? sodium_base64_VARIANT_URLSAFE : sodium_base64_VARIANT_ORIGINAL;
	else
		variant = urlsafe ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
				  : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
	out->data = malloc(decoded + 1);
	if (!out->data)
		return DATAURL_ERR_NOMEM;
	size_t got = 0;
	if (sodium_base642bin(out->data, decoded + 1, p, n, " \t\r\n", &got, NULL, variant) != 0 ||
	    got != decoded) {
		free(out->data);
		out->data = NULL;
		return DATAURL_ERR_SYNTAX;
	}
	out->len = got;
	return DATAURL_OK;
}

static int decode_percent(const char *p, size_t n, size_t max_bytes, struct dataurl *out)
{
	out->data = malloc(n + 1);
	if (!out->data)
		return DATAURL_ERR_NOMEM;
	size_t w = 0;
	int rc = DATAURL_OK;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];
		if (c == '%') {
			if (n - i < 3 || hexval(p[i + 1]) < 0 || hexval(p[i + 2]) < 0) {
				rc = DATAURL_ERR_SYNTAX;
				break;
			}
			c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
			i += 2;
		}
		if (w >= max_bytes) {
			rc = DATAURL_ERR_TOO_BIG;
			break;
		}
		out->data[w++] = (unsigned char)c;
	}
	if (rc != DATAURL_OK) {
		free(out->data);
		out->data = NULL;
		return rc;
	}
	out->len = w;
	return DATAURL_OK;
}

int dataurl_decode(const char *s, size_t len, size_t max_bytes, struct dataurl *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return DATAURL_ERR_SYNTAX;
	while (len > 0 && is_ws((unsigned char)s[0]))
		s++, len--;
	while (len > 0 && is_ws((unsigned char)s[len - 1]))
		len--;
	if (len < 5 || strncasecmp(s, "data:", 5) != 0)
		return DATAURL_ERR_SYNTAX;
	const char *hdr = s + 5;
	const char *comma = memchr(hdr, ',', len - 5);
	if (!comma)
		return DATAURL_ERR_SYNTAX;
	if (parse_header(hdr, (size_t)(comma - hdr), out) < 0) {
		memset(out, 0, sizeof(*out));
		return DATAURL_ERR_SYNTAX;
	}
	const char *payload = comma + 1;
	size_t plen = len - (size_t)(payload - s);
	int rc = out->base64 ? decode_base64(payload, plen, max_bytes, out)
			     : decode_percent(payload, plen, max_bytes, out);
	if (rc != DATAURL_OK) {
		char type[sizeof(out->type)];
		memcpy(type, out->type, sizeof(type));
		int b = out->base64;
		memset(out, 0, sizeof(*out));
		memcpy(out->type, type, sizeof(type));
		out->base64 = b;
	}
	return rc;
}

void dataurl_free(struct dataurl *d)
{
	if (!d)
		return;
	free(d->data);
	d->data = NULL;
	d->len = 0;
}
