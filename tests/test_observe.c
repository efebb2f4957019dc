/* test_observe.c - one answered request becomes one count and (log on) one line with the request's
 * fields; an unparsed request is logged as "-"; the coding is the representation's. */
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

#include "cachet/observe.h"

static struct cachet_span sp(const char *s)
{
	return (struct cachet_span){s, strlen(s)};
}

static void counts_and_logs(void **state)
{
	(void)state;
	char path[] = "/tmp/cachet-test-observe-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct cachet_metrics m;
	struct cachet_accesslog l;
	assert_int_equal(cachet_metrics_init(&m, 1), 0);
	assert_int_equal(cachet_accesslog_open(&l, path, CACHET_LOG_JSON, 1), 0);
	struct cachet_observe o = {.metrics = &m.workers[0], .log = &l.workers[0]};
	char text[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n";
	struct cachet_block block = {.text = text, .len = sizeof(text) - 1};
	const struct cachet_repr br = {.coding = CACHET_CODING_BR};
	struct cachet_reply r = {.rep = &br, .status = 200, .body_len = 5};
	struct cachet_request req = {
	    .method = sp("GET"), .target = sp("/a.js"), .minor_version = 0, .user_agent = sp("ua")};
	struct cachet_log_remote remote = {.family = AF_INET, .addr = {10, 0, 0, 1}};
	cachet_observe_h1(&o, &req, &r, &remote, 1000, 251000);
	struct cachet_reply bad = {.head = &block, .status = 400, .body_len = 11};
	cachet_observe_h1(&o, NULL, &bad, &remote, 0, 5);
	assert_int_equal(m.workers[0].requests[0][CACHET_PROTO_HTTP10], 1);
	assert_int_equal(m.workers[0].requests[cachet_metrics_code_index(400)][CACHET_PROTO_HTTP11],
	                 1);
	assert_int_equal(m.workers[0].body_bytes, 16);
	cachet_accesslog_seal(&l.workers[0]);
	assert_int_equal(cachet_accesslog_write_pending(&l), 2);
	cachet_accesslog_close(&l);
	FILE *f = fopen(path, "r");
	char line[2][1024];
	assert_non_null(fgets(line[0], sizeof(line[0]), f));
	assert_non_null(fgets(line[1], sizeof(line[1]), f));
	fclose(f);
	unlink(path);
	assert_non_null(strstr(line[0],
	                       "\"remote\":\"10.0.0.1\",\"method\":\"GET\",\"path\":\"/a.js\","
	                       "\"protocol\":\"HTTP/1.0\",\"status\":200,\"bytes\":5,"
	                       "\"referer\":\"\",\"user_agent\":\"ua\",\"encoding\":\"br\","
	                       "\"duration_us\":250}"));
	assert_non_null(strstr(line[1], "\"method\":\"\",\"path\":\"\""));
	assert_non_null(strstr(line[1], "\"status\":400,\"bytes\":11,"));
	assert_non_null(strstr(line[1], "\"encoding\":\"\""));
	cachet_metrics_free(&m);
}

/* Log off: still counted, nothing else touched. */
static void log_off_counts(void **state)
{
	(void)state;
	struct cachet_metrics m;
	assert_int_equal(cachet_metrics_init(&m, 1), 0);
	struct cachet_observe o = {.metrics = &m.workers[0]};
	char text[] = "HTTP/1.1 304 Not Modified\r\n";
	struct cachet_block block = {.text = text, .len = sizeof(text) - 1};
	struct cachet_reply r = {.head = &block, .status = 304};
	struct cachet_request req = {.method = sp("GET"), .target = sp("/"), .minor_version = 1};
	cachet_observe_h1(&o, &req, &r, NULL, 0, 0);
	assert_int_equal(m.workers[0].requests[3][CACHET_PROTO_HTTP11], 1);
	cachet_metrics_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(counts_and_logs),
	    cmocka_unit_test(log_off_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
