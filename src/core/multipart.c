/*
 * multipart: the streaming multipart/form-data parser.
 *
 * The body of a part ends at the delimiter CRLF "--" boundary. Since a
 * boundary holds no CR, a CR can only start a delimiter at the first byte
 * of one, so the search needs no table: bytes that matched a prefix of the
 * delimiter are held (as a count; their text is the delimiter's own) and
 * handed out as data when the match breaks, which also works when the
 * input is split inside a delimiter. The first delimiter may come at the
 * very start of the body (no CRLF before it): the parser starts as if a
 * CRLF had been seen.
 *
 * Owns: struct multipart and the current part's header block (bounded).
 * Never: keeps pointers into the caller's buffers across calls.
 */
#include "core/multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum mp_state {
	MP_PREAMBLE,	/* before the first delimiter: ignored */
	MP_AFTER_DELIM, /* just after a delimiter: "--" or padding then CRLF */
	MP_DASH,	/* one '-' after a delimiter */
	MP_PADDING,	/* spaces/tabs after a delimiter, then CR */
	MP_LF,		/* the LF after a delimiter line's CR */
	MP_HEADERS,	/* a part's header block, up to an empty line */
	MP_BODY,	/* a part's body, up to the next delimiter */
	MP_EPILOGUE,	/* after the closing delimiter: ignored */
	MP_FAILED,	/* an error happened; every call fails */
};

struct multipart {
	char delim[4 + MULTIPART_BOUNDARY_MAX + 1]; /* CRLF "--" boundary */
	size_t dlen;				    /* strlen(delim) */
	size_t matched;				    /* delimiter bytes matched (held) */
	enum mp_state state;			    /* where we are */
	char hdr[MULTIPART_HEADERS_MAX + 1];	    /* the current header block */
	size_t hlen;				    /* bytes in hdr */
	size_t line_start;			    /* offset in hdr of the current line */
	struct multipart_part part;		    /* the current part's headers */
	int nparts;				    /* parts begun */
	const char *err;			    /* why it failed */
	struct multipart_callbacks cbs;		    /* the caller's callbacks */
	void *arg;				    /* their argument */
};

static int valid_boundary(const char *b, size_t n)
{
	if (n == 0 || n > MULTIPART_BOUNDARY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (b[i] == '\r' || b[i] == '\n' || b[i] == '\0')
			return 0;
	return 1;
}

struct multipart *multipart_new(const char *boundary, const struct multipart_callbacks *cbs,
				void *arg)
{
	if (!boundary || !valid_boundary(boundary, strlen(boundary)))
		return NULL;
	struct multipart *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->dlen = (size_t)snprintf(m->delim, sizeof(m->delim), "\r\n--%s", boundary);
	m->state = MP_PREAMBLE;
	m->matched = 2; /* the first delimiter may open the body without a CRLF */
	if (cbs)
		m->cbs = *cbs;
	m->arg = arg;
	return m;
}

void multipart_free(struct multipart *m)
{
	free(m);
}

const char *multipart_error(const struct multipart *m)
{
	return m ? m->err : "no parser";
}

int multipart_nparts(const struct multipart *m)
{
	return m ? m->nparts : 0;
}

static int fail(struct multipart *m, const char *why)
{
	m->state = MP_FAILED;
	m->err = why;
	return -1;
}

static int emit(struct multipart *m, const char *data, size_t len)
{
	if (len == 0 || !m->cbs.part_data)
		return 0;
	return m->cbs.part_data(m->arg, data, len) ? fail(m, "stopped") : 0;
}

/* ---- header values ---- */

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
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

/* Appends byte c to out (truncating silently at outlen - 1). */
static void put(char *out, size_t outlen, size_t *n, int c)
{
	if (*n + 1 < outlen)
		out[(*n)++] = (char)c;
}

/* RFC 8187 ext-value: charset'lang'pct-encoded, into UTF-8. */
static int decode_ext_value(const char *v, size_t len, char *out, size_t outlen)
{
	const char *end = v + len;
	const char *q1 = memchr(v, '\'', len);
	if (!q1)
		return -1;
	const char *q2 = memchr(q1 + 1, '\'', (size_t)(end - q1 - 1));
	if (!q2)
		return -1;
	size_t cslen = (size_t)(q1 - v);
	int latin1;
	if (cslen == 5 && strncasecmp(v, "UTF-8", 5) == 0)
		latin1 = 0;
	else if (cslen == 10 && strncasecmp(v, "ISO-8859-1", 10) == 0)
		latin1 = 1;
	else
		return -1;
	size_t n = 0;
	for (const char *p = q2 + 1; p < end; p++) {
		int c = (unsigned char)*p;
		if (c == '%') {
			if (end - p < 3)
				return -1;
			int hi = hexval(p[1]), lo = hexval(p[2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			p += 2;
		}
		if (latin1 && c >= 0x80) {
			if (n + 2 >= outlen)
				break; /* never half a character */
			put(out, outlen, &n, 0xc0 | (c >> 6));
			put(out, outlen, &n, 0x80 | (c & 0x3f));
		} else {
			put(out, outlen, &n, c);
		}
	}
	out[n] = '\0';
	return 1;
}

int multipart_header_param(const char *value, const char *name, char *out, size_t outlen)
{
	if (!value || !name || !out || outlen == 0)
		return -1;
	out[0] = '\0';
	size_t namelen = strlen(name);
	int extended = namelen > 0 && name[namelen - 1] == '*';
	const char *p = value;
	/* skip the value itself (e.g. form-data), honouring quotes */
	while (*p && *p != ';') {
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (!*p)
				return -1;
		}
		p++;
	}
	while (*p == ';') {
		p = skip_ows(p + 1);
		const char *attr = p;
		while (*p && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		size_t alen = (size_t)(p - attr);
		p = skip_ows(p);
		if (*p != '=') {
			/* a parameter without a value: skip it */
			while (*p && *p != ';')
				p++;
			continue;
		}
		p = skip_ows(p + 1);
		int match = alen == namelen && strncasecmp(attr, name, namelen) == 0;
		size_t n = 0;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				int c = (unsigned char)*p;
				if (c == '\\' && (p[1] == '"' || p[1] == '\\'))
					c = (unsigned char)*++p;
				if (match)
					put(out, outlen, &n, c);
			}
			if (*p != '"')
				return -1;
			p = skip_ows(p + 1);
			if (*p && *p != ';')
				return -1;
			if (match) {
				out[n] = '\0';
				return extended ? -1 : 1; /* ext-values are never quoted */
			}
		} else {
			const char *v = p;
			while (*p && *p != ';')
				p++;
			const char *e = p;
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if (match) {
				if (extended)
					return decode_ext_value(v, (size_t)(e - v), out, outlen);
				for (const char *q = v; q < e; q++)
					put(out, outlen, &n, (unsigned char)*q);
				out[n] = '\0';
				return 1;
			}
		}
	}
	return *p ? -1 : 0;
}

int multipart_boundary(const char *content_type, char *out, size_t outlen)
{
	static const char type[] = "multipart/form-data";
	if (!content_type)
		return -1;
	const char *p = skip_ows(content_type);
	size_t n = strcspn(p, ";");
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n != sizeof(type) - 1 || strncasecmp(p, type, n) != 0)
		return -1;
	if (multipart_header_param(content_type, "boundary", out, outlen) != 1)
		return -2;
	size_t blen = strlen(out);
	if (blen + 1 >= outlen || !valid_boundary(out, blen))
		return -2;
	return 0;
}

/* ---- the header block of a part ---- */

static void copy_trimmed(char *dst, size_t dstlen, const char *src)
{
	src = skip_ows(src);
	size_t n = strlen(src);
	while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\t'))
		n--;
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* One unfolded header line "Name: value" (NUL-terminated, no CRLF). */
static int header_line(struct multipart *m, char *line)
{
	char *colon = strchr(line, ':');
	if (!colon || colon == line)
		return fail(m, "malformed part header");
	*colon = '\0';
	const char *value = colon + 1;
	for (char *q = line; *q; q++)
		if (*q == ' ' || *q == '\t')
			return fail(m, "malformed part header");
	struct multipart_part *pt = &m->part;
	if (strcasecmp(line, "Content-Disposition") == 0) {
		if (pt->has_disposition)
			return fail(m, "two Content-Disposition headers in a part");
		pt->has_disposition = 1;
		int r = multipart_header_param(value, "name", pt->name, sizeof(pt->name));
		if (r < 0)
			return fail(m, "malformed Content-Disposition");
		pt->has_name = r == 1;
		r = multipart_header_param(value, "filename*", pt->filename, sizeof(pt->filename));
		if (r != 1)
			r = multipart_header_param(value, "filename", pt->filename,
						   sizeof(pt->filename));
		if (r < 0)
			return fail(m, "malformed Content-Disposition");
		pt->has_filename = r == 1;
	} else if (strcasecmp(line, "Content-Type") == 0) {
		copy_trimmed(pt->content_type, sizeof(pt->content_type), value);
	}
	return 0;
}

/* The header block hdr[0..hlen) is complete (it ends with an empty line). */
static int headers_done(struct multipart *m)
{
	memset(&m->part, 0, sizeof(m->part));
	/* unfold and split into lines in place */
	char *src = m->hdr, *end = m->hdr + m->hlen;
	char *line = NULL; /* the line being built, NUL-terminated at w */
	char *w = m->hdr;
	while (src < end) {
		char *nl = memchr(src, '\n', (size_t)(end - src));
		char *e = nl ? nl : end;
		if (e > src && e[-1] == '\r')
			e--;
		size_t len = (size_t)(e - src);
		if (len == 0) {
			break; /* the empty line that ends the block */
		}
		if (*src == ' ' || *src == '\t') {
			if (!line)
				return fail(m, "malformed part header");
			const char *v = skip_ows(src); /* before w overwrites anything */
			size_t vlen = (size_t)(e - v);
			*w++ = ' ';
			memmove(w, v, vlen);
			w += vlen;
		} else {
			if (line) {
				*w++ = '\0';
				if (header_line(m, line) < 0)
					return -1;
			}
			line = w;
			memmove(w, src, len);
			w += len;
		}
		src = nl ? nl + 1 : end;
	}
	if (line) {
		*w = '\0';
		if (header_line(m, line) < 0)
			return -1;
	}
	m->hlen = 0;
	m->line_start = 0;
	m->nparts++;
	if (m->cbs.part_begin && m->cbs.part_begin(m->arg, &m->part))
		return fail(m, "stopped");
	return 0;
}

/* ---- feeding ---- */

int multipart_feed(struct multipart *m, const char *data, size_t len)
{
	if (!m)
		return -1;
	if (m->state == MP_FAILED)
		return -1;
	const char *p = data, *end = data + len;
	while (p < end) {
		switch (m->state) {
		case MP_PREAMBLE:
		case MP_BODY: {
			int body = m->state == MP_BODY;
			const char *run = p; /* data not yet handed out */
			while (p < end) {
				if (m->matched == 0) {
					const char *cr = memchr(p, '\r', (size_t)(end - p));
					if (!cr) {
						p = end;
						break;
					}
					if (body && emit(m, run, (size_t)(cr - run)) < 0)
						return -1;
					m->matched = 1;
					p = cr + 1;
					run = p;
					continue;
				}
				if (*p == m->delim[m->matched]) {
					p++;
					run = p;
					if (++m->matched == m->dlen)
						break;
					continue;
				}
				/* the held bytes were data after all */
				if (body && emit(m, m->delim, m->matched) < 0)
					return -1;
				m->matched = 0;
				run = p;
			}
			if (m->matched == m->dlen) {
				m->matched = 0;
				if (body && m->cbs.part_end && m->cbs.part_end(m->arg))
					return fail(m, "stopped");
				m->state = MP_AFTER_DELIM;
			} else if (m->matched == 0 && body && emit(m, run, (size_t)(p - run)) < 0) {
				return -1;
			}
			break;
		}
		case MP_AFTER_DELIM:
			if (*p == '-') {
				m->state = MP_DASH;
			} else if (*p == ' ' || *p == '\t') {
				m->state = MP_PADDING;
			} else if (*p == '\r') {
				m->state = MP_LF;
			} else {
				return fail(m, "garbage after a boundary");
			}
			p++;
			break;
		case MP_DASH:
			if (*p != '-')
				return fail(m, "garbage after a boundary");
			p++;
			m->state = MP_EPILOGUE;
			break;
		case MP_PADDING:
			if (*p == '\r')
				m->state = MP_LF;
			else if (*p != ' ' && *p != '\t')
				return fail(m, "garbage after a boundary");
			p++;
			break;
		case MP_LF:
			if (*p != '\n')
				return fail(m, "CR without LF after a boundary");
			p++;
			m->state = MP_HEADERS;
			m->hlen = 0;
			m->line_start = 0;
			break;
		case MP_HEADERS: {
			/* copy up to the next LF; a line that is empty ends the block */
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *stop = nl ? nl + 1 : end;
			size_t n = (size_t)(stop - p);
			if (m->hlen + n > MULTIPART_HEADERS_MAX)
				return fail(m, "part headers too long");
			memcpy(m->hdr + m->hlen, p, n);
			m->hlen += n;
			p = stop;
			if (!nl)
				break;
			size_t linelen = m->hlen - m->line_start; /* with its LF */
			if (linelen == 1 || (linelen == 2 && m->hdr[m->line_start] == '\r')) {
				if (headers_done(m) < 0)
					return -1;
				m->state = MP_BODY;
				m->matched = 0;
			} else {
				m->line_start = m->hlen;
			}
			break;
		}
		case MP_EPILOGUE:
			p = end;
			break;
		case MP_FAILED:
			return -1;
		}
	}
	return 0;
}

int multipart_finish(struct multipart *m)
{
	if (!m || m->state == MP_FAILED)
		return -1;
	if (m->state != MP_EPILOGUE) {
		fail(m, m->nparts == 0 && m->state == MP_PREAMBLE ? "no boundary in the body"
								  : "truncated body");
		return -1;
	}
	return 0;
}
