/*
 * mailaddr: the check of an email address the server will write into a
 * mail header. Pure (no I/O), so that the users resource and the fuzz
 * targets need nothing of the mail machinery.
 */
#include "core/mailaddr.h"

#include <string.h>

int mail_address_ok(const char *addr, size_t len)
{
	if (!addr || len < 3 || len > MAIL_ADDRESS_MAX)
		return 0;
	size_t at = len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];
		if (c <= 0x20 || c >= 0x7f || strchr("\"<>(),;:\\[]", c))
			return 0;
		if (c == '@') {
			if (at != len)
				return 0; /* a second '@' */
			at = i;
		}
	}
	return at > 0 && at + 1 < len && addr[len - 1] != '.' && addr[at + 1] != '.';
}
