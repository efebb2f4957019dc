/* test_accesslog.c - access-log lines byte for byte (nginx combined, JSON), escaping, the
 * worker/writer hand-over, dropping when the writer falls behind, reopening after a rename. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cachet/accesslog.h"

#define NOW 1795789184 /* 27 Nov 2026 14:19:44 UTC */

static struct cachet_span sp(const char *s)
{
	return (struct cachet_span){s, strlen(s)};
}

static const struct cachet_log_remote v4 = {.family = AF_INET, .addr = {127, 0, 0, 1}};

static struct cachet_accesslog_entry entry(void)
{
	return (struct cachet_accesslog_entry){.remote = &v4,
	                                       .method = sp("GET"),
	                                       .path = sp("/x"),
	                                       .user_agent = sp("curl/8"),
	                                       .protocol = "HTTP/1.1",
	                                       .encoding = "",
	                                       .status = 304,
	                                       .bytes = 0,
	                                       .duration_us = 12};
}

static char line[CACHET_ACCESSLOG_LINE_MAX];

static const char *fmt(enum cachet_log_format f, const struct cachet_accesslog_entry *e)
{
	struct cachet_accesslog_clock clock = {0};
	size_t n = cachet_accesslog_format(f, e, &clock, NOW, line);
	assert_true(n < sizeof(line));
	line[n] = '\0';
	return line;
}

static void combined_is_nginx(void **state)
{
	(void)state;
	struct cachet_accesslog_entry e = entry();
	assert_string_equal(fmt(CACHET_LOG_COMBINED, &e),
	                    "127.0.0.1 - - [27/Nov/2026:14:19:44 +0000] \"GET /x HTTP/1.1\" 304 0 "
	                    "\"-\" \"curl/8\"\n");
	e.status = 200;
	e.bytes = 1024;
	e.referer = sp("http://a/");
	e.user_agent = sp("");
	e.protocol = "HTTP/1.0";
	assert_string_equal(
	    fmt(CACHET_LOG_COMBINED, &e),
	    "127.0.0.1 - - [27/Nov/2026:14:19:44 +0000] \"GET /x HTTP/1.0\" 200 1024 "
	    "\"http://a/\" \"-\"\n");
}

static void combined_unparsed_and_v6(void **state)
{
	(void)state;
	struct cachet_log_remote r6 = {.family = AF_INET6, .addr = {[15] = 1}};
	struct cachet_accesslog_entry e = entry();
	e.remote = &r6;
	e.method = e.path = e.user_agent = sp("");
	e.status = 400;
	e.bytes = 11;
	assert_string_equal(fmt(CACHET_LOG_COMBINED, &e),
	                    "::1 - - [27/Nov/2026:14:19:44 +0000] \"-\" 400 11 \"-\" \"-\"\n");
}

/* No log injection: quotes, backslashes, controls and high bytes become \xHH as nginx writes. */
static void combined_escapes(void **state)
{
	(void)state;
	struct cachet_accesslog_entry e = entry();
	e.path = sp("/a\"b\\c\x01\x7f\xe9");
	e.user_agent = sp("x\"\n127.0.0.1 - - [fake]");
	assert_string_equal(fmt(CACHET_LOG_COMBINED, &e),
	                    "127.0.0.1 - - [27/Nov/2026:14:19:44 +0000] "
	                    "\"GET /a\\x22b\\x5Cc\\x01\\x7F\\xE9 HTTP/1.1\" 304 0 \"-\" "
	                    "\"x\\x22\\x0A127.0.0.1 - - [fake]\"\n");
}

static void json_fixed_keys(void **state)
{
	(void)state;
	struct cachet_accesslog_entry e = entry();
	e.encoding = "br";
	assert_string_equal(fmt(CACHET_LOG_JSON, &e),
	                    "{\"time\":\"2026-11-27T14:19:44Z\",\"remote\":\"127.0.0.1\","
	                    "\"method\":\"GET\",\"path\":\"/x\",\"protocol\":\"HTTP/1.1\","
	                    "\"status\":304,\"bytes\":0,\"referer\":\"\",\"user_agent\":\"curl/8\","
	                    "\"encoding\":\"br\",\"duration_us\":12}\n");
}

static void json_escapes(void **state)
{
	(void)state;
	struct cachet_accesslog_entry e = entry();
	e.path = sp("/\"\\\n\xff");
	e.user_agent = sp("");
	fmt(CACHET_LOG_JSON, &e);
	assert_non_null(strstr(line, "\"path\":\"/\\\"\\\\\\u000A\\u00FF\""));
	assert_non_null(strstr(line, "\"user_agent\":\"\""));
}

/* The longest fields still fit CACHET_ACCESSLOG_LINE_MAX, every byte escaped. */
static void longest_line_fits(void **state)
{
	(void)state;
	static char big[CACHET_ACCESSLOG_PATH_MAX + 100];
	memset(big, 1, sizeof(big));
	struct cachet_accesslog_entry e = entry();
	e.path = e.referer = e.user_agent = e.method = (struct cachet_span){big, sizeof(big)};
	struct cachet_accesslog_clock clock = {0};
	assert_true(cachet_accesslog_format(CACHET_LOG_JSON, &e, &clock, NOW, line) <=
	            CACHET_ACCESSLOG_LINE_MAX);
	assert_true(cachet_accesslog_format(CACHET_LOG_COMBINED, &e, &clock, NOW, line) <=
	            CACHET_ACCESSLOG_LINE_MAX);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[4 << 20];
	*len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Lines go through in order; a worker whose buffers all wait for the writer drops and counts. */
static void handover_and_drops(void **state)
{
	(void)state;
	char path[] = "/tmp/cachet-test-accesslog-XXXXXX";
	int tmp = mkstemp(path);
	assert_true(tmp >= 0);
	close(tmp);
	struct cachet_accesslog l;
	assert_int_equal(cachet_accesslog_open(&l, path, CACHET_LOG_COMBINED, 2), 0);
	struct cachet_accesslog_entry e = entry();
	cachet_accesslog_add(&l.workers[0], &e, NOW);
	cachet_accesslog_add(&l.workers[1], &e, NOW);
	assert_int_equal(cachet_accesslog_write_pending(&l), 0); /* nothing sealed yet */
	cachet_accesslog_seal(&l.workers[0]);
	cachet_accesslog_seal(&l.workers[1]);
	assert_int_equal(cachet_accesslog_write_pending(&l), 2);

	/* fill every buffer of worker 0 without the writer running */
	size_t per_line = strlen(fmt(CACHET_LOG_COMBINED, &e));
	size_t sent = CACHET_ACCESSLOG_BUF / per_line * CACHET_ACCESSLOG_NBUF + 1000;
	for (size_t i = 0; i < sent; i++)
		cachet_accesslog_add(&l.workers[0], &e, NOW);
	uint64_t dropped = cachet_accesslog_dropped(&l);
	assert_true(dropped > 0);
	cachet_accesslog_seal(&l.workers[0]);
	size_t written = cachet_accesslog_write_pending(&l);
	assert_int_equal(written + dropped, sent);
	/* after the writer caught up, lines are kept again */
	cachet_accesslog_add(&l.workers[0], &e, NOW);
	cachet_accesslog_seal(&l.workers[0]);
	assert_int_equal(cachet_accesslog_write_pending(&l), 1);
	assert_int_equal(cachet_accesslog_dropped(&l), dropped);
	cachet_accesslog_close(&l);
	size_t len;
	assert_int_equal(count_lines(slurp(path, &len)), 2 + written + 1);
	unlink(path);
}

/* SIGUSR1's reopen: after logrotate renamed the file, new lines go to a new file of the name. */
static void reopen_after_rename(void **state)
{
	(void)state;
	char path[] = "/tmp/cachet-test-accesslog-XXXXXX";
	int tmp = mkstemp(path);
	assert_true(tmp >= 0);
	close(tmp);
	char old[sizeof(path) + 4];
	snprintf(old, sizeof(old), "%s.1", path);
	struct cachet_accesslog l;
	assert_int_equal(cachet_accesslog_open(&l, path, CACHET_LOG_JSON, 1), 0);
	struct cachet_accesslog_entry e = entry();
	cachet_accesslog_add(&l.workers[0], &e, NOW);
	cachet_accesslog_seal(&l.workers[0]);
	cachet_accesslog_write_pending(&l);
	assert_int_equal(rename(path, old), 0);
	cachet_accesslog_reopen(&l);
	cachet_accesslog_add(&l.workers[0], &e, NOW);
	cachet_accesslog_add(&l.workers[0], &e, NOW);
	cachet_accesslog_seal(&l.workers[0]);
	assert_int_equal(cachet_accesslog_write_pending(&l), 2);
	cachet_accesslog_close(&l);
	size_t len;
	assert_int_equal(count_lines(slurp(old, &len)), 1);
	assert_int_equal(count_lines(slurp(path, &len)), 2);
	unlink(path);
	unlink(old);
}

/* The thread: lines sealed before stop are all written by the time stop returns. */
static void thread_flushes_on_stop(void **state)
{
	(void)state;
	char path[] = "/tmp/cachet-test-accesslog-XXXXXX";
	int tmp = mkstemp(path);
	assert_true(tmp >= 0);
	close(tmp);
	struct cachet_accesslog l;
	assert_int_equal(cachet_accesslog_open(&l, path, CACHET_LOG_COMBINED, 1), 0);
	assert_int_equal(cachet_accesslog_start(&l), 0);
	struct cachet_accesslog_entry e = entry();
	for (int i = 0; i < 10; i++)
		cachet_accesslog_add(&l.workers[0], &e, NOW);
	cachet_accesslog_seal(&l.workers[0]);
	cachet_accesslog_stop(&l);
	cachet_accesslog_close(&l);
	size_t len;
	assert_int_equal(count_lines(slurp(path, &len)), 10);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(combined_is_nginx),      cmocka_unit_test(combined_unparsed_and_v6),
	    cmocka_unit_test(combined_escapes),       cmocka_unit_test(json_fixed_keys),
	    cmocka_unit_test(json_escapes),           cmocka_unit_test(longest_line_fits),
	    cmocka_unit_test(handover_and_drops),     cmocka_unit_test(reopen_after_rename),
	    cmocka_unit_test(thread_flushes_on_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
