/*
 * mime: libmagic detection and file-name sanitising.
 *
 * The magic handle is opened with MAGIC_MIME (type and encoding) and
 * MAGIC_NO_CHECK_COMPRESS (compressed files are named, never unpacked), once
 * per process at start-up. A handle is not safe to use from two threads at
 * once, so a mutex serialises mime_detect, which copies libmagic's answer
 * into the caller's buffer before releasing it (the string is only valid
 * until the next call on the handle). Detection runs on the worker pool:
 * some 0.3 ms per binary file is loop time better spent elsewhere.
 *
 * Owns: the magic handle and its mutex. Never: trusts a file's name or a
 * client's declared type; opens the database after start-up.
 */
#include "core/mime.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <magic.h>
#include <pthread.h>

#include "core/log.h"

static magic_t magic;
static pthread_mutex_t magic_mu = PTHREAD_MUTEX_INITIALIZER; /* one caller at a time */

int mime_init(void)
{
	if (magic)
		return 0;
	magic = magic_open(MAGIC_MIME | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);
	if (!magic) {
		log_error(NULL, "mime: magic_open failed");
		return -1;
	}
	if (magic_load(magic, NULL) != 0) {
		log_error(NULL, "mime: cannot load the magic database: %s", magic_error(magic));
		magic_close(magic);
		magic = NULL;
		return -1;
	}
	return 0;
}

void mime_cleanup(void)
{
	if (magic)
		magic_close(magic);
	magic = NULL;
}

static void set(char *out, size_t outlen, const char *s, size_t n)
{
	if (outlen == 0)
		return;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

void mime_detect(const void *data, size_t len, char *out, size_t outlen)
{
	static const char fallback[] = "application/octet-stream";
	char buf[MIME_TYPE_MAX];
	size_t n = 0;
	pthread_mutex_lock(&magic_mu);
	if (magic && data && len > 0) {
		const char *r =
		    magic_buffer(magic, data, len < MIME_SNIFF_BYTES ? len : MIME_SNIFF_BYTES);
		/* copy libmagic's string at once: "type/subtype; charset=x" */
		n = r ? strlen(r) : 0;
		if (n >= sizeof(buf))
			n = sizeof(buf) - 1;
		if (n)
			memcpy(buf, r, n);
	}
	pthread_mutex_unlock(&magic_mu);
	buf[n] = '\0';
	if (n == 0) {
		set(out, outlen, fallback, sizeof(fallback) - 1);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (buf[i] >= 'A' && buf[i] <= 'Z')
			buf[i] = (char)(buf[i] + 32);
	size_t tlen = strcspn(buf, "; ");
	if (tlen == 0 || !memchr(buf, '/', tlen) || strncmp(buf, "inode/", 6) == 0 ||
	    (tlen == 19 && strncmp(buf, "application/x-empty", tlen) == 0)) {
		set(out, outlen, fallback, sizeof(fallback) - 1);
		return;
	}
	const char *cs = strstr(buf + tlen, "charset=");
	if (strncmp(buf, "text/", 5) != 0 || !cs) {
		set(out, outlen, buf, tlen);
		return;
	}
	cs += 8;
	size_t cslen = strcspn(cs, "; ");
	if (cslen == 0 || (cslen == 6 && strncmp(cs, "binary", 6) == 0) ||
	    strncmp(cs, "unknown", 7) == 0) {
		set(out, outlen, buf, tlen);
		return;
	}
	if (cslen == 8 && strncmp(cs, "us-ascii", 8) == 0)
		cs = "utf-8", cslen = 5; /* ASCII so far; UTF-8 may follow the sniffed bytes */
	char full[MIME_TYPE_MAX + 16];
	int k = snprintf(full, sizeof(full), "%.*s; charset=%.*s", (int)tlen, buf, (int)cslen, cs);
	set(out, outlen, full, (size_t)k < sizeof(full) ? (size_t)k : sizeof(full) - 1);
}

static const struct {
	const char *type; /* detected type, without parameters */
	const char *ext;  /* its usual extension */
	int image;	  /* taken by /v1/upload/image */
} types[] = {
    {"image/png", "png", 1},	   {"image/jpeg", "jpg", 1},	  {"image/gif", "gif", 1},
    {"image/webp", "webp", 1},	   {"image/svg+xml", "svg", 1},	  {"application/pdf", "pdf", 0},
    {"text/plain", "txt", 0},	   {"text/csv", "csv", 0},	  {"application/json", "json", 0},
    {"application/zip", "zip", 0}, {"application/gzip", "gz", 0}, {"image/bmp", "bmp", 0},
    {"image/tiff", "tif", 0},	   {"audio/mpeg", "mp3", 0},	  {"video/mp4", "mp4", 0},
};

static int type_is(const char *type, const char *base)
{
	size_t n = strlen(base);
	return strncmp(type, base, n) == 0 && (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

int mime_is_upload_image(const char *type)
{
	for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].image && type_is(type, types[i].type))
			return 1;
	return 0;
}

const char *mime_extension(const char *type)
{
	for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
		if (type_is(type, types[i].type))
			return types[i].ext;
	return NULL;
}

/* ---- file names ---- */

/* Decodes one UTF-8 character of s[0..n): its length (1-4), or 0 when the
 * bytes are not valid UTF-8 (overlong, surrogate, beyond U+10FFFF). */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned c = s[0];
	size_t len;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, v = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, v = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

static int dropped(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e ||
	       cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0x2028 || cp == 0x2029 || cp == 0xfeff;
}

static int is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bytes of s[0..n) that form whole UTF-8 characters within max bytes. */
static size_t utf8_prefix(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	size_t k = max;
	while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
		k--;
	return k;
}

void mime_sanitise_filename(const char *raw, size_t len, const char *fallback, char *display,
			    size_t displen, char *key, size_t keylen)
{
	char clean[4 * MIME_NAME_MAX + 8]; /* cleaned text, bounded */
	size_t cn = 0;
	const unsigned char *s = (const unsigned char *)(raw ? raw : "");
	if (!raw)
		len = 0;
	/* no directories: the part after the last separator */
	for (size_t i = len; i > 0; i--) {
		if (s[i - 1] == '/' || s[i - 1] == '\\') {
			s += i;
			len -= i;
			break;
		}
	}
	/* keep the tail when the name is absurdly long (the extension is there) */
	if (len > sizeof(clean) - 8) {
		size_t cut = len - (sizeof(clean) - 8);
		while (cut < len && (s[cut] & 0xc0) == 0x80)
			cut++;
		s += cut;
		len -= cut;
	}
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = utf8_char(s + i, len - i, &cp);
		if (k == 0) {
			i++; /* invalid byte: dropped */
			continue;
		}
		if (!dropped(cp) && !(cp == '.' && cn > 0 && clean[cn - 1] == '.')) {
			memcpy(clean + cn, s + i, k);
			cn += k;
		}
		i += k;
	}
	/* trim dots and spaces at both ends */
	size_t b = 0;
	while (b < cn && (clean[b] == '.' || clean[b] == ' '))
		b++;
	while (cn > b && (clean[cn - 1] == '.' || clean[cn - 1] == ' '))
		cn--;
	const char *name = clean + b;
	size_t nlen = cn - b;
	/* the extension, when safe */
	const char *dot = NULL;
	for (size_t i = nlen; i > 0; i--)
		if (name[i - 1] == '.') {
			dot = name + i - 1;
			break;
		}
	size_t extlen = 0;
	if (dot) {
		extlen = nlen - (size_t)(dot - name) - 1;
		int safe = extlen >= 1 && extlen <= 16;
		for (size_t i = 0; safe && i < extlen; i++)
			safe = is_alnum((unsigned char)dot[1 + i]);
		if (!safe) {
			dot = NULL;
			extlen = 0;
		}
	}
	size_t stemlen = dot ? (size_t)(dot - name) : nlen;
	size_t room = MIME_NAME_MAX - (dot ? extlen + 1 : 0);
	stemlen = utf8_prefix(name, stemlen, room);
	while (stemlen > 0 && (name[stemlen - 1] == '.' || name[stemlen - 1] == ' '))
		stemlen--;
	char out[MIME_NAME_MAX + 1];
	size_t on = 0;
	if (stemlen == 0) {
		const char *fb = fallback && *fallback ? fallback : "file";
		on = strlen(fb);
		if (on > MIME_NAME_MAX - (dot ? extlen + 1 : 0))
			on = MIME_NAME_MAX - (dot ? extlen + 1 : 0);
		memcpy(out, fb, on);
	} else {
		memcpy(out, name, stemlen);
		on = stemlen;
	}
	if (dot) {
		out[on++] = '.';
		memcpy(out + on, dot + 1, extlen);
		on += extlen;
	}
	out[on] = '\0';
	set(display, displen, out, utf8_prefix(out, on, displen ? displen - 1 : 0));
	if (!key || keylen == 0)
		return;
	size_t kn = 0;
	for (size_t i = 0; i < on && kn + 1 < keylen;) {
		uint32_t cp;
		size_t k = utf8_char((const unsigned char *)out + i, on - i, &cp);
		if (k == 0)
			k = 1;
		int c = (unsigned char)out[i];
		key[kn++] =
		    (k == 1 && (is_alnum(c) || c == '.' || c == '-' || c == '_')) ? (char)c : '_';
		i += k;
	}
	key[kn] = '\0';
}

char *mime_content_disposition(const char *display)
{
	static const char attr_chars[] = "!#$&+-.^_`|~";
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)(display ? display : "");
	size_t n = strlen((const char *)s);
	/* ASCII fallback, then the RFC 8187 form when needed */
	char *out = malloc(64 + n * 4);
	if (!out)
		return NULL;
	size_t w = (size_t)sprintf(out, "attachment; filename=\"");
	int non_ascii = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_char(s + i, n - i, &cp);
		if (k == 0)
			k = 1;
		if (s[i] >= 0x80)
			non_ascii = 1;
		char c = (char)s[i];
		out[w++] =
		    (k > 1 || s[i] >= 0x80 || c == '"' || c == '\\' || s[i] < 0x20) ? '_' : c;
		i += k;
	}
	out[w++] = '"';
	if (non_ascii) {
		w += (size_t)sprintf(out + w, "; filename*=UTF-8''");
		for (size_t i = 0; i < n; i++) {
			unsigned char c = s[i];
			if (is_alnum(c) || (c < 0x80 && c && strchr(attr_chars, c))) {
				out[w++] = (char)c;
			} else {
				out[w++] = '%';
				out[w++] = hex[c >> 4];
				out[w++] = hex[c & 15];
			}
		}
	}
	out[w] = '\0';
	return out;
}
