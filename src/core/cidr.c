/*
 * cidr: parsing of comma-separated IPv4/IPv6 network lists (TRUSTED_PROXIES)
 * and matching a textual client address against them.
 *
 * Owns: the list's array. Host bits below the prefix are cleared on parse,
 * so "10.1.2.3/8" is stored as 10.0.0.0/8.
 * Matching: an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is also compared
 * with the IPv4 networks, and an IPv4 address with the IPv6 networks in its
 * mapped form, so dual-stack sockets behave like IPv4 ones.
 * Never: resolves names or does I/O (inet_pton only).
 */
#include "core/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* Longest address text accepted (INET6_ADDRSTRLEN includes the NUL). */
#define CIDR_ADDR_MAX INET6_ADDRSTRLEN

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses an address into family/addr; 0/-1. */
static int parse_addr(const char *s, size_t len, int *family, unsigned char *addr)
{
	char buf[CIDR_ADDR_MAX];

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(addr, 0, 16);
	if (memchr(buf, ':', len) != NULL) {
		*family = AF_INET6;
		return inet_pton(AF_INET6, buf, addr) == 1 ? 0 : -1;
	}
	*family = AF_INET;
	return inet_pton(AF_INET, buf, addr) == 1 ? 0 : -1;
}

/* Clears the bits of addr after the first `bits`. */
static void mask_addr(unsigned char *addr, int bits, int total)
{
	int i;

	for (i = 0; i < total / 8; i++) {
		int keep = bits - i * 8;

		if (keep >= 8)
			continue;
		addr[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
	}
}

/* Parses one trimmed item "addr[/bits]" into c; 0/-1. */
static int parse_item(const char *s, size_t len, struct cidr *c)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	int max;

	if (parse_addr(s, alen, &c->family, c->addr) < 0)
		return -1;
	max = c->family == AF_INET ? 32 : 128;
	c->bits = max;
	if (slash != NULL) {
		const char *p = slash + 1, *end = s + len;
		int bits = 0;

		if (p == end || end - p > 3)
			return -1;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			bits = bits * 10 + (*p - '0');
		}
		if (bits > max)
			return -1;
		c->bits = bits;
	}
	mask_addr(c->addr, c->bits, max);
	return 0;
}

void cidr_list_free(struct cidr_list *l)
{
	if (l == NULL)
		return;
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

int cidr_list_parse(struct cidr_list *out, const char *text)
{
	const char *p = text;
	size_t cap = 0;

	out->items = NULL;
	out->n = 0;
	if (text == NULL)
		return 0;
	while (is_space(*p))
		p++;
	if (*p == '\0')
		return 0; /* empty or blank: no networks */
	for (;;) {
		const char *end = strchr(p, ',');
		const char *stop = end ? end : p + strlen(p);
		const char *a = p, *b = stop;

		while (a < b && is_space(*a))
			a++;
		while (b > a && is_space(b[-1]))
			b--;
		if (a == b)
			goto fail; /* an empty item: "a,,b" or a trailing comma */
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct cidr *items = realloc(out->items, ncap * sizeof(*items));

			if (items == NULL)
				goto fail;
			out->items = items;
			cap = ncap;
		}
		if (parse_item(a, (size_t)(b - a), &out->items[out->n]) < 0)
			goto fail;
		out->n++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
fail:
	cidr_list_free(out);
	return -1;
}

/* Whether the first `bits` bits of a and b agree. */
static int prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[whole] ^ b[whole]) & (unsigned char)(0xff << (8 - rest))) == 0;
}

int cidr_list_match(const struct cidr_list *l, const char *ip)
{
	unsigned char addr[16], v4[4], v6[16];
	int family, has_v4 = 0, has_v6 = 0;
	size_t i;

	if (l == NULL || ip == NULL || parse_addr(ip, strlen(ip), &family, addr) < 0)
		return 0;
	if (family == AF_INET) {
		memcpy(v4, addr, 4);
		memcpy(v6, v4_mapped_prefix, 12);
		memcpy(v6 + 12, addr, 4);
		has_v4 = has_v6 = 1;
	} else {
		memcpy(v6, addr, 16);
		has_v6 = 1;
		if (memcmp(addr, v4_mapped_prefix, 12) == 0) {
			memcpy(v4, addr + 12, 4);
			has_v4 = 1;
		}
	}
	for (i = 0; i < l->n; i++) {
		const struct cidr *c = &l->items[i];

		if (c->family == AF_INET && has_v4 && prefix_equal(c->addr, v4, c->bits))
			return 1;
		if (c->family == AF_INET6 && has_v6 && prefix_equal(c->addr, v6, c->bits))
			return 1;
	}
	return 0;
}
