/*
 * cidr: lists of IPv4/IPv6 networks (TRUSTED_PROXIES) and address matching.
 * Pure functions; no I/O.
 */
#ifndef OES_CIDR_H
#define OES_CIDR_H

#include <stddef.h>
#include <sys/socket.h>

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network address, family-sized prefix used */
	int bits;		/* prefix length */
};

struct cidr_list {
	struct cidr *items; /* owned array */
	size_t n;	    /* number of items */
};

/* Parses "10.0.0.0/8, ::1" (a bare address means a host). 0 or -1. */
int cidr_list_parse(struct cidr_list *out, const char *text);
/* Whether the textual address `ip` falls in one of the networks. */
int cidr_list_match(const struct cidr_list *l, const char *ip);
void cidr_list_free(struct cidr_list *l);

#endif
