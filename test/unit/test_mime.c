/*
 * Unit tests of core/mime: libmagic detection from bytes (the real magic
 * database), the image allow-list, file-name sanitising and
 * Content-Disposition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mime.h"

static int setup(void **state)
{
	(void)state;
	return mime_init();
}

static int teardown(void **state)
{
	(void)state;
	mime_cleanup();
	return 0;
}

/* A valid 1x1 PNG. */
static const unsigned char PNG[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00,
    0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78,
    0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00, 0x00, 0x03, 0x01, 0x01, 0x00, 0xc9, 0xfe, 0x92,
    0xef, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

static const unsigned char GIF[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!"
				   "\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00"
				   "\x00\x02\x02D\x01\x00;";

static const unsigned char WEBP[] = "RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00"
				    "\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00";

static const unsigned char JPEG[] = "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00"
				    "\x01\x00\x00\xff\xdb\x00\x43\x00";

static const char SVG[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1\" height=\"1\">"
			  "<rect/></svg>";

static const char PDF[] = "%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

static void detect(const void *data, size_t len, const char *want)
{
	char out[MIME_TYPE_MAX];
	mime_detect(data, len, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_detect(void **state)
{
	(void)state;
	detect(PNG, sizeof(PNG), "image/png");
	detect(GIF, sizeof(GIF) - 1, "image/gif");
	detect(WEBP, sizeof(WEBP) - 1, "image/webp");
	detect(JPEG, sizeof(JPEG) - 1, "image/jpeg");
	detect(SVG, strlen(SVG), "image/svg+xml");
	detect(PDF, strlen(PDF), "application/pdf");
	detect("hello world\n", 12, "text/plain; charset=utf-8");
	detect("caf\xc3\xa9 cr\xc3\xa8me\n", 13, "text/plain; charset=utf-8");
	detect("<!DOCTYPE html><html><body>x</body></html>", 42, "text/html; charset=utf-8");
	detect("", 0, "application/octet-stream");
	detect(NULL, 0, "application/octet-stream");
	unsigned char noise[512];
	for (size_t i = 0; i < sizeof(noise); i++)
		noise[i] = (unsigned char)((i * 7919u + 13u) >> 3) ^ (unsigned char)(i * 31u);
	noise[0] = 0x00, noise[1] = 0x13, noise[2] = 0xf7;
	detect(noise, sizeof(noise), "application/octet-stream");
}

static void test_detect_uses_the_first_bytes(void **state)
{
	(void)state;
	/* a PNG followed by megabytes of text: the head decides */
	size_t n = 2 * 1024 * 1024;
	unsigned char *big = malloc(n);
	memset(big, 'a', n);
	memcpy(big, PNG, sizeof(PNG));
	detect(big, n, "image/png");
	/* text whose binary part starts after MIME_SNIFF_BYTES still reads as text */
	memset(big, 'a', n);
	big[MIME_SNIFF_BYTES + 10] = 0;
	detect(big, n, "text/plain; charset=utf-8");
	free(big);
	/* a small output buffer gets a truncated, terminated answer */
	char out[6];
	mime_detect(PNG, sizeof(PNG), out, sizeof(out));
	assert_string_equal(out, "image");
}

static void test_images(void **state)
{
	(void)state;
	assert_true(mime_is_upload_image("image/png"));
	assert_true(mime_is_upload_image("image/jpeg"));
	assert_true(mime_is_upload_image("image/gif"));
	assert_true(mime_is_upload_image("image/webp"));
	assert_true(mime_is_upload_image("image/svg+xml"));
	assert_true(mime_is_upload_image("image/svg+xml; charset=utf-8"));
	assert_false(mime_is_upload_image("image/pngx"));
	assert_false(mime_is_upload_image("image/bmp"));
	assert_false(mime_is_upload_image("application/pdf"));
	assert_false(mime_is_upload_image("text/plain; charset=utf-8"));
	assert_false(mime_is_upload_image(NULL));
	assert_string_equal(mime_extension("image/jpeg"), "jpg");
	assert_string_equal(mime_extension("image/svg+xml"), "svg");
	assert_string_equal(mime_extension("text/plain; charset=utf-8"), "txt");
	assert_null(mime_extension("application/x-unknown"));
}

static void test_sanitise(void **state)
{
	(void)state;
	static const struct {
		const char *raw;
		const char *display;
		const char *key;
	} cases[] = {
	    {"photo.png", "photo.png", "photo.png"},
	    {"photo.txt", "photo.txt", "photo.txt"},
	    {"../../etc/passwd", "passwd", "passwd"},
	    {"/abs/dir/x.pdf", "x.pdf", "x.pdf"},
	    {"C:\\Users\\me\\file.TXT", "file.TXT", "file.TXT"},
	    {"dir/..", "file", "file"},
	    {"a..b...txt", "a.b.txt", "a.b.txt"},
	    {"...", "file", "file"},
	    {"", "file", "file"},
	    {"README", "README", "README"},
	    {".htaccess", "htaccess", "htaccess"},
	    {"file.", "file", "file"},
	    {"  spaced name .doc ", "spaced name.doc", "spaced_name.doc"},
	    {"my file (1).pdf", "my file (1).pdf", "my_file__1_.pdf"},
	    {"r\xc3\xa9sum\xc3\xa9.pdf", "r\xc3\xa9sum\xc3\xa9.pdf", "r_sum_.pdf"},
	    {"\xe2\x82\xac.txt", "\xe2\x82\xac.txt", "_.txt"},
	    {"ev\x01il\x7f\x1b.txt", "evil.txt", "evil.txt"},
	    {"bad\xff\xc0\xaf"
	     "byte.txt",
	     "badbyte.txt", "badbyte.txt"},
	    {"\xe2\x80\xaegpj.exe", "gpj.exe", "gpj.exe"}, /* RIGHT-TO-LEFT OVERRIDE dropped */
	    {"x.tar.gz", "x.tar.gz", "x.tar.gz"},
	    {"name.with space", "name.with space", "name.with_space"},
	    {"a.abcdefghijklmnopq", "a.abcdefghijklmnopq", "a.abcdefghijklmnopq"},
	    {"q\"uote'.txt", "q\"uote'.txt", "q_uote_.txt"},
	    {"new\nline.txt", "newline.txt", "newline.txt"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char display[MIME_NAME_MAX + 1], key[MIME_NAME_MAX + 1];
		mime_sanitise_filename(cases[i].raw, strlen(cases[i].raw), "file", display,
				       sizeof(display), key, sizeof(key));
		if (strcmp(display, cases[i].display) != 0 || strcmp(key, cases[i].key) != 0)
			fail_msg("case %zu: got \"%s\" / \"%s\", wanted \"%s\" / \"%s\"", i,
				 display, key, cases[i].display, cases[i].key);
	}
	/* a NUL inside the raw bytes is a control character */
	char display[MIME_NAME_MAX + 1], key[MIME_NAME_MAX + 1];
	mime_sanitise_filename("a\0b.txt", 7, "file", display, sizeof(display), key, sizeof(key));
	assert_string_equal(display, "ab.txt");
	/* long names keep their extension */
	char longname[1200];
	memset(longname, 'n', 1000);
	strcpy(longname + 1000, ".jpeg");
	mime_sanitise_filename(longname, strlen(longname), "file", display, sizeof(display), key,
			       sizeof(key));
	assert_int_equal(strlen(display), MIME_NAME_MAX);
	assert_string_equal(display + MIME_NAME_MAX - 5, ".jpeg");
	assert_string_equal(key, display);
	/* ... and are cut on a character boundary */
	char utf[1200] = "";
	for (int i = 0; i < 200; i++)
		strcat(utf, "\xc3\xa9");
	strcat(utf, ".png");
	mime_sanitise_filename(utf, strlen(utf), "file", display, sizeof(display), key,
			       sizeof(key));
	assert_true(strlen(display) <= MIME_NAME_MAX);
	assert_string_equal(display + strlen(display) - 4, ".png");
	assert_int_equal((strlen(display) - 4) % 2, 0);
	/* the fallback, with no key buffer */
	mime_sanitise_filename(NULL, 0, "image.png", display, sizeof(display), NULL, 0);
	assert_string_equal(display, "image.png");
}

static void test_disposition(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *want;
	} cases[] = {
	    {"a.txt", "attachment; filename=\"a.txt\""},
	    {"my file.pdf", "attachment; filename=\"my file.pdf\""},
	    {"x\"y\\z.txt", "attachment; filename=\"x_y_z.txt\""},
	    {"r\xc3\xa9sum\xc3\xa9.pdf",
	     "attachment; filename=\"r_sum_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"},
	    {"\xe2\x82\xac rates (2).txt", "attachment; filename=\"_ rates (2).txt\"; "
					   "filename*=UTF-8''%E2%82%AC%20rates%20%282%29.txt"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = mime_content_disposition(cases[i].name);
		assert_non_null(d);
		assert_string_equal(d, cases[i].want);
		free(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detect),	cmocka_unit_test(test_detect_uses_the_first_bytes),
	    cmocka_unit_test(test_images),	cmocka_unit_test(test_sanitise),
	    cmocka_unit_test(test_disposition),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
