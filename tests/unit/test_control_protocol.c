// SPDX-License-Identifier: GPL-2.0-only
/* The control protocol: JSON reader/writer and request parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "control/json.h"
#include "control/protocol.h"

static int parse(const char *s, struct ctl_request *req, struct ctl_error *e)
{
	return ctl_parse_request(s, strlen(s), req, e);
}

static void test_valid_requests(void **state)
{
	struct ctl_request r;
	struct ctl_error e;

	assert_int_equal(parse("{\"version\":1,\"cmd\":\"info\"}", &r, &e), 0);
	assert_int_equal(r.cmd, CTL_CMD_INFO);
	assert_int_equal(
		parse(" { \"cmd\" : \"stop\", \"version\" : 1, \"force\": true } ", &r,
		      &e),
		0);
	assert_int_equal(r.cmd, CTL_CMD_STOP);
	assert_true(r.force);
	assert_int_equal(parse("{\"version\":1,\"cmd\":\"regs\",\"cpu\":3}", &r, &e), 0);
	assert_int_equal(r.cpu, 3);
	assert_int_equal(parse("{\"version\":1,\"cmd\":\"regs\"}", &r, &e), 0);
	assert_int_equal(r.cpu, -1);
	assert_int_equal(
		parse("{\"version\":1,\"cmd\":\"balloon\",\"target\":67108864}", &r, &e),
		0);
	assert_int_equal(r.target, 67108864);
	assert_int_equal(parse("{\"version\":1,\"cmd\":\"sysrq\",\"key\":\"t\"}", &r, &e),
			 0);
	assert_int_equal(r.key, 't');
}

static void expect_error(const char *s, const char *code)
{
	struct ctl_request r;
	struct ctl_error e;

	assert_int_equal(parse(s, &r, &e), -EINVAL);
	assert_string_equal(e.code, code);
	assert_true(strlen(e.message) > 0);
}

static void test_malformed(void **state)
{
	expect_error("", CTL_E_PARSE);
	expect_error("garbage", CTL_E_PARSE);
	expect_error("{\"version\":1,\"cmd\":\"info\"", CTL_E_PARSE);
	expect_error("{\"version\":1,\"cmd\":\"info\"}x", CTL_E_PARSE);
	expect_error("{\"version\":01}", CTL_E_PARSE);
	expect_error("{\"a\":\"\\x\"}", CTL_E_PARSE);
	expect_error("{\"a\":\"\\ud800\"}", CTL_E_PARSE);
	expect_error("{'version':1}", CTL_E_PARSE);
	expect_error("[1,2,]", CTL_E_PARSE);
	expect_error("{\"a\":\"tab\there\"}", CTL_E_PARSE);
	expect_error("\xff\xfe", CTL_E_PARSE);
	expect_error("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		     CTL_E_PARSE);
	expect_error("[1]", CTL_E_REQUEST);
	expect_error("{\"version\":1}", CTL_E_REQUEST);
	expect_error("{\"version\":1,\"cmd\":7}", CTL_E_REQUEST);
}

static void test_embedded_nul(void **state)
{
	static const char s[] = "{\"version\":1,\"cmd\":\"info\"}\0junk";
	struct ctl_request r;
	struct ctl_error e;

	assert_int_equal(ctl_parse_request(s, sizeof(s) - 1, &r, &e), -EINVAL);
	assert_string_equal(e.code, CTL_E_PARSE);
}

static void test_oversized(void **state)
{
	size_t n = CTL_MAX_REQUEST + 10;
	char *s = malloc(n + 1);
	struct ctl_request r;
	struct ctl_error e;

	memset(s, ' ', n);
	memcpy(s, "{\"version\":1,\"cmd\":\"info\"}", 26);
	s[n] = 0;
	assert_int_equal(parse(s, &r, &e), -EINVAL);
	assert_string_equal(e.code, CTL_E_TOO_LONG);
	free(s);
}

static void test_unknown_command_and_version(void **state)
{
	expect_error("{\"version\":1,\"cmd\":\"reboot-the-world\"}", CTL_E_UNKNOWN);
	expect_error("{\"version\":2,\"cmd\":\"info\"}", CTL_E_VERSION);
	expect_error("{\"version\":\"1\",\"cmd\":\"info\"}", CTL_E_VERSION);
	expect_error("{\"version\":1.5,\"cmd\":\"info\"}", CTL_E_VERSION);
	expect_error("{\"cmd\":\"info\"}", CTL_E_VERSION);
}

static void test_bad_arguments(void **state)
{
	expect_error("{\"version\":1,\"cmd\":\"info\",\"force\":true}", CTL_E_ARGUMENT);
	expect_error("{\"version\":1,\"cmd\":\"stop\",\"force\":1}", CTL_E_ARGUMENT);
	expect_error("{\"version\":1,\"cmd\":\"regs\",\"cpu\":-1}", CTL_E_ARGUMENT);
	expect_error("{\"version\":1,\"cmd\":\"balloon\"}", CTL_E_ARGUMENT);
	expect_error("{\"version\":1,\"cmd\":\"balloon\",\"target\":-5}", CTL_E_ARGUMENT);
	expect_error("{\"version\":1,\"cmd\":\"sysrq\",\"key\":\"ab\"}", CTL_E_ARGUMENT);
	expect_error("{\"version\":1,\"cmd\":\"sysrq\"}", CTL_E_ARGUMENT);
}

static void test_round_trip(void **state)
{
	struct ctl_request in = { .cmd = CTL_CMD_BALLOON, .target = 1ULL << 40 }, out;
	struct json_writer w;
	struct ctl_error e;

	jw_init(&w, CTL_MAX_REQUEST);
	ctl_write_request(&w, &in);
	assert_false(w.overflow);
	assert_int_equal(w.buf[w.len - 1], '\n');
	assert_int_equal(ctl_parse_request(w.buf, w.len - 1, &out, &e), 0);
	assert_int_equal(out.cmd, CTL_CMD_BALLOON);
	assert_true(out.target == 1ULL << 40);
	jw_free(&w);
}

static void test_replies(void **state)
{
	const char *code, *msg;
	struct json_writer w;
	struct json_doc doc;
	int data;

	jw_init(&w, 4096);
	ctl_reply_begin(&w);
	jw_str(&w, "name", "a\"b\\c\n\x01");
	jw_u64(&w, "big", UINT64_MAX);
	jw_arr_begin(&w, "list");
	jw_i64(&w, NULL, -3);
	jw_bool(&w, NULL, false);
	jw_arr_end(&w);
	ctl_reply_end(&w);
	assert_false(w.overflow);
	assert_int_equal(json_parse(&doc, w.buf, w.len - 1, NULL), 0);
	data = ctl_check_reply(&doc, &code, &msg);
	assert_true(data > 0);
	assert_string_equal(json_get(&doc, data, "name")->str, "a\"b\\c\n\x01");
	assert_true(json_get(&doc, data, "big")->u == UINT64_MAX);
	json_free(&doc);

	ctl_reply_error(&w, CTL_E_PARSE, "bad");
	assert_int_equal(json_parse(&doc, w.buf, w.len - 1, NULL), 0);
	assert_int_equal(ctl_check_reply(&doc, &code, &msg), -EREMOTEIO);
	assert_string_equal(code, CTL_E_PARSE);
	assert_string_equal(msg, "bad");
	json_free(&doc);
	jw_free(&w);

	/* A writer at its limit reports overflow instead of a cut document. */
	jw_init(&w, 16);
	ctl_reply_begin(&w);
	jw_str(&w, "long", "0123456789012345678901234567890");
	ctl_reply_end(&w);
	assert_true(w.overflow);
	jw_free(&w);
}

/*
 * The newline ending a line is written inside the buffer, with its NUL:
 * also when the document fills the buffer to its last byte (a 255-byte
 * document in the first 256-byte buffer).
 */
static void test_line_end_fits_buffer(void **state)
{
	char msg[600];

	for (size_t n = 0; n < sizeof(msg); n++) {
		struct json_writer w;

		memset(msg, 'm', n);
		msg[n] = 0;
		jw_init(&w, 4096);
		ctl_reply_error(&w, CTL_E_FAILED, msg);
		assert_false(w.overflow);
		assert_true(w.len < w.cap);
		assert_int_equal(strlen(w.buf), w.len);
		assert_int_equal(w.buf[w.len - 1], '\n');
		jw_free(&w);
	}
}

static void test_unicode_escapes(void **state)
{
	struct json_doc doc;

	assert_int_equal(json_parse(&doc, "\"\\u00e9\\ud83d\\ude00\"", 20, NULL), 0);
	assert_string_equal(doc.nodes[0].str, "\xc3\xa9\xf0\x9f\x98\x80");
	json_free(&doc);
	assert_int_equal(json_parse(&doc, "\"\\u0000\"", 8, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_requests),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_unknown_command_and_version),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_line_end_fits_buffer),
		cmocka_unit_test(test_unicode_escapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
