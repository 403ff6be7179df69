/*
 * hash: one fast non-cryptographic 64-bit hash, 8 bytes a step, for weak
 * ETags and the statement cache. Not for anything an attacker may choose
 * to collide on purpose with harm (both uses fall back to full comparison
 * or only cost a revalidation).
 */
#ifndef OES_HASH_H
#define OES_HASH_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static inline unsigned long long hash64(const void *data, size_t n)
{
	const unsigned char *s = data;
	unsigned long long h = 0x9E3779B97F4A7C15ULL ^ n;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		unsigned long long w;
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	for (; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 32);
}

/* The weak ETag of a document: W/"<hash64, 16 hex digits>" (31 bytes). */
static inline void weak_etag(char out[32], const void *data, size_t n)
{
	snprintf(out, 32, "W/\"%016llx\"", hash64(data, n));
}

#endif
