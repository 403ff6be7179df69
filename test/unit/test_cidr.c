/*
 * test_cidr: unit tests of src/core/cidr.c: parsing network lists (IPv4,
 * IPv6, bare hosts, spaces, every refusal) and matching addresses, including
 * IPv4-mapped IPv6 ones. Links only the cidr module.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "core/cidr.h"

static void test_empty(void **state)
{
	struct cidr_list l;

	(void)state;
	assert_int_equal(cidr_list_parse(&l, ""), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(cidr_list_match(&l, "127.0.0.1"), 0);
	cidr_list_free(&l);
	assert_int_equal(cidr_list_parse(&l, "   "), 0);
	assert_int_equal(l.n, 0);
	cidr_list_free(&l);
	assert_int_equal(cidr_list_parse(&l, NULL), 0);
	assert_int_equal(l.n, 0);
	cidr_list_free(&l);
	cidr_list_free(&l);
	assert_int_equal(cidr_list_match(NULL, "127.0.0.1"), 0);
}

static void test_parse_fields(void **state)
{
	struct cidr_list l;
	static const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8};

	(void)state;
	assert_int_equal(cidr_list_parse(&l, "10.0.0.0/8, ::1 ,192.168.1.7,2001:db8::/32"), 0);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.items[0].family, AF_INET);
	assert_int_equal(l.items[0].bits, 8);
	assert_memory_equal(l.items[0].addr, "\x0a\x00\x00\x00", 4);
	assert_int_equal(l.items[1].family, AF_INET6);
	assert_int_equal(l.items[1].bits, 128);
	assert_memory_equal(l.items[1].addr, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	assert_int_equal(l.items[2].family, AF_INET);
	assert_int_equal(l.items[2].bits, 32);
	assert_memory_equal(l.items[2].addr, "\xc0\xa8\x01\x07", 4);
	assert_int_equal(l.items[3].family, AF_INET6);
	assert_int_equal(l.items[3].bits, 32);
	assert_memory_equal(l.items[3].addr, v6, 16);
	cidr_list_free(&l);
	assert_null(l.items);
	assert_int_equal(l.n, 0);

	/* host bits are cleared */
	assert_int_equal(cidr_list_parse(&l, "\t10.1.2.3/12\t"), 0);
	assert_int_equal(l.n, 1);
	assert_memory_equal(l.items[0].addr, "\x0a\x00\x00\x00", 4);
	assert_int_equal(l.items[0].bits, 12);
	cidr_list_free(&l);
	assert_int_equal(cidr_list_parse(&l, "172.31.255.255/12"), 0);
	assert_memory_equal(l.items[0].addr, "\xac\x10\x00\x00", 4);
	cidr_list_free(&l);
}

static void expect_refused(const char *text)
{
	struct cidr_list l;

	if (cidr_list_parse(&l, text) != -1)
		fail_msg("\"%s\" was accepted", text);
	assert_null(l.items);
	assert_int_equal(l.n, 0);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_refused("10.0.0.0/33");
	expect_refused("::/129");
	expect_refused("10.0.0.0/");
	expect_refused("10.0.0.0/-1");
	expect_refused("10.0.0.0/+8");
	expect_refused("10.0.0.0/8x");
	expect_refused("10.0.0.0/0008");
	expect_refused("10.0.0.0/8/8");
	expect_refused("10.0.0.0 /8");
	expect_refused("10.0.0");
	expect_refused("256.0.0.1");
	expect_refused("10.0.0.1.2");
	expect_refused("localhost");
	expect_refused("1.2.3.4, junk");
	expect_refused("1.2.3.4,,5.6.7.8");
	expect_refused("1.2.3.4,");
	expect_refused(",1.2.3.4");
	expect_refused(" , ");
	expect_refused("1.2.3.4 5.6.7.8");
	expect_refused(":::1");
	expect_refused("fe80::1%eth0");
	expect_refused("2001:db8::g");
	expect_refused("/8");
	expect_refused("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb");
}

static void test_match_v4(void **state)
{
	struct cidr_list l;

	(void)state;
	assert_int_equal(cidr_list_parse(&l, "10.0.0.0/8,192.168.1.7,172.16.0.0/12"), 0);
	assert_int_equal(cidr_list_match(&l, "10.0.0.0"), 1);
	assert_int_equal(cidr_list_match(&l, "10.255.255.255"), 1);
	assert_int_equal(cidr_list_match(&l, "11.0.0.0"), 0);
	assert_int_equal(cidr_list_match(&l, "9.255.255.255"), 0);
	assert_int_equal(cidr_list_match(&l, "192.168.1.7"), 1);
	assert_int_equal(cidr_list_match(&l, "192.168.1.8"), 0);
	assert_int_equal(cidr_list_match(&l, "172.31.0.1"), 1);
	assert_int_equal(cidr_list_match(&l, "172.32.0.1"), 0);
	assert_int_equal(cidr_list_match(&l, "172.15.255.255"), 0);
	/* not an address */
	assert_int_equal(cidr_list_match(&l, ""), 0);
	assert_int_equal(cidr_list_match(&l, "10.0.0"), 0);
	assert_int_equal(cidr_list_match(&l, "10.0.0.1 "), 0);
	assert_int_equal(cidr_list_match(&l, "host.example"), 0);
	assert_int_equal(cidr_list_match(&l, NULL), 0);
	/* an IPv6 address is not in IPv4 networks unless mapped */
	assert_int_equal(cidr_list_match(&l, "::a00:1"), 0);
	assert_int_equal(cidr_list_match(&l, "::ffff:10.1.2.3"), 1);
	assert_int_equal(cidr_list_match(&l, "::FFFF:192.168.1.7"), 1);
	assert_int_equal(cidr_list_match(&l, "::ffff:c0a8:107"), 1);
	assert_int_equal(cidr_list_match(&l, "::ffff:192.168.1.8"), 0);
	assert_int_equal(cidr_list_match(&l, "::fffe:10.1.2.3"), 0);
	cidr_list_free(&l);
}

static void test_match_v4_edges(void **state)
{
	struct cidr_list l;

	(void)state;
	assert_int_equal(cidr_list_parse(&l, "0.0.0.0/0"), 0);
	assert_int_equal(cidr_list_match(&l, "1.2.3.4"), 1);
	assert_int_equal(cidr_list_match(&l, "255.255.255.255"), 1);
	assert_int_equal(cidr_list_match(&l, "::ffff:8.8.8.8"), 1);
	assert_int_equal(cidr_list_match(&l, "2001:db8::1"), 0);
	cidr_list_free(&l);

	assert_int_equal(cidr_list_parse(&l, "192.168.1.128/25"), 0);
	assert_int_equal(cidr_list_match(&l, "192.168.1.128"), 1);
	assert_int_equal(cidr_list_match(&l, "192.168.1.255"), 1);
	assert_int_equal(cidr_list_match(&l, "192.168.1.127"), 0);
	cidr_list_free(&l);

	assert_int_equal(cidr_list_parse(&l, "100.64.0.0/10"), 0);
	assert_int_equal(cidr_list_match(&l, "100.127.255.255"), 1);
	assert_int_equal(cidr_list_match(&l, "100.128.0.0"), 0);
	assert_int_equal(cidr_list_match(&l, "100.63.255.255"), 0);
	cidr_list_free(&l);
}

static void test_match_v6(void **state)
{
	struct cidr_list l;

	(void)state;
	assert_int_equal(cidr_list_parse(&l, "::1, 2001:db8::/32 ,fd00::/7,fe80::/10"), 0);
	assert_int_equal(l.n, 4);
	assert_int_equal(cidr_list_match(&l, "::1"), 1);
	assert_int_equal(cidr_list_match(&l, "0:0:0:0:0:0:0:1"), 1);
	assert_int_equal(cidr_list_match(&l, "::2"), 0);
	assert_int_equal(cidr_list_match(&l, "2001:db8:ffff:ffff::1"), 1);
	assert_int_equal(cidr_list_match(&l, "2001:DB8::abcd"), 1);
	assert_int_equal(cidr_list_match(&l, "2001:db9::1"), 0);
	assert_int_equal(cidr_list_match(&l, "fc00::1"), 1);
	assert_int_equal(cidr_list_match(&l, "fdff:ffff::1"), 1);
	assert_int_equal(cidr_list_match(&l, "fe00::1"), 0);
	assert_int_equal(cidr_list_match(&l, "febf::1"), 1);
	assert_int_equal(cidr_list_match(&l, "fec0::1"), 0);
	/* 127.0.0.1 is not ::1 */
	assert_int_equal(cidr_list_match(&l, "127.0.0.1"), 0);
	assert_int_equal(cidr_list_match(&l, "::ffff:127.0.0.1"), 0);
	cidr_list_free(&l);

	/* an IPv4 address against IPv6 networks, in its mapped form */
	assert_int_equal(cidr_list_parse(&l, "::ffff:10.0.0.0/104"), 0);
	assert_int_equal(cidr_list_match(&l, "10.9.8.7"), 1);
	assert_int_equal(cidr_list_match(&l, "11.0.0.1"), 0);
	assert_int_equal(cidr_list_match(&l, "::ffff:10.0.0.1"), 1);
	cidr_list_free(&l);

	assert_int_equal(cidr_list_parse(&l, "::/0"), 0);
	assert_int_equal(cidr_list_match(&l, "2001:db8::1"), 1);
	assert_int_equal(cidr_list_match(&l, "1.2.3.4"), 1);
	cidr_list_free(&l);
}

static void test_many(void **state)
{
	struct cidr_list l;
	char text[2048];
	size_t i, off = 0;

	(void)state;
	for (i = 0; i < 100; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s10.%zu.0.0/16",
					i ? "," : "", i);
	assert_int_equal(cidr_list_parse(&l, text), 0);
	assert_int_equal(l.n, 100);
	assert_int_equal(cidr_list_match(&l, "10.99.1.1"), 1);
	assert_int_equal(cidr_list_match(&l, "10.100.1.1"), 0);
	cidr_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),	   cmocka_unit_test(test_parse_fields),
	    cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_match_v4),
	    cmocka_unit_test(test_match_v4_edges), cmocka_unit_test(test_match_v6),
	    cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
