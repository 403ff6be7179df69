/*
 * libFuzzer target of core/dataurl. Decodes the input with no practical
 * limit, then checks the limit is exact: refused (DATAURL_ERR_TOO_BIG) one
 * byte under the decoded size, the same bytes at it. Results are bounded
 * by the input's size.
 *
 * fuzz-sources: src/core/dataurl.c
 * fuzz-pkgs: libsodium
 * fuzz-max-len: 16384
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataurl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes: ASan catches reads past the end */
	char *s = malloc(size ? size : 1);
	if (size)
		memcpy(s, data, size);
	struct dataurl d;
	int rc = dataurl_decode(s, size, (size_t)-1, &d);
	if (rc != DATAURL_OK) {
		if (d.data || d.len)
			__builtin_trap();
		if (rc != DATAURL_ERR_SYNTAX && rc != DATAURL_ERR_NOMEM)
			__builtin_trap(); /* no limit: never too big */
		free(s);
		return 0;
	}
	if (!d.data || d.len > size || strlen(d.type) >= sizeof(d.type))
		__builtin_trap();
	struct dataurl e;
	if (d.len > 0) {
		if (dataurl_decode(s, size, d.len - 1, &e) != DATAURL_ERR_TOO_BIG || e.data)
			__builtin_trap();
	}
	if (dataurl_decode(s, size, d.len, &e) != DATAURL_OK || e.len != d.len ||
	    memcmp(e.data, d.data, d.len) != 0 || strcmp(e.type, d.type) != 0)
		__builtin_trap();
	dataurl_free(&e);
	dataurl_free(&d);
	free(s);
	return 0;
}
