/*
 * mailaddr: whether an email address is safe to put in a mail header.
 * Pure: the users resource and the fuzz targets need nothing more.
 */
#ifndef OES_MAILADDR_H
#define OES_MAILADDR_H

#include <stddef.h>

#define MAIL_ADDRESS_MAX 320 /* bytes */

/* Whether addr[0..len) may be used as a recipient: 3..MAIL_ADDRESS_MAX
 * bytes of printable ASCII, one '@' with text on both sides, no spaces,
 * quotes, angle brackets, commas, semicolons, backslashes or control
 * characters (so no CR/LF). Pure. */
int mail_address_ok(const char *addr, size_t len);

#endif
