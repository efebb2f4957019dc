/* test_metrics.c - per-worker counters summed exactly at scrape, the exposition's series names and
 * format, and the /metrics, /healthz and 404 answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/metrics.h"

static char text[64 * 1024];

static const char *render(const struct cachet_metrics *m)
{
	struct cachet_process_stats ps = {
	    .resident_bytes = 4096, .cpu_seconds = 1.5, .open_fds = 7, .start_time = 1795789184.0};
	size_t n = cachet_metrics_render(m, &ps, text, sizeof(text) - 1);
	assert_true(n > 0);
	text[n] = '\0';
	return text;
}

static void codes_have_slots(void **state)
{
	(void)state;
	assert_int_equal(cachet_metrics_code_index(200), 0);
	assert_int_equal(cachet_metrics_code_index(304), 3);
	assert_int_equal(cachet_metrics_code_index(505), 15);
	assert_int_equal(cachet_metrics_code_index(299), CACHET_METRICS_N_CODES - 1);
}

/* Two workers' counters add up exactly; series carry the names the issue lists. */
static void sums_across_workers(void **state)
{
	(void)state;
	struct cachet_metrics m;
	assert_int_equal(cachet_metrics_init(&m, 2), 0);
	for (int i = 0; i < 1000; i++)
		cachet_metrics_request(&m.workers[i % 2], 304, CACHET_PROTO_HTTP11, 0);
	cachet_metrics_request(&m.workers[0], 200, CACHET_PROTO_HTTP10, 1024);
	cachet_metrics_request(&m.workers[1], 200, CACHET_PROTO_HTTP11, 10);
	cachet_metrics_request(&m.workers[1], 299, CACHET_PROTO_HTTP11, 0);
	cachet_metrics_add(&m.workers[0].accepted, 3);
	cachet_metrics_add(&m.workers[1].accepted, 2);
	cachet_metrics_add(&m.workers[1].closed, 4);
	cachet_metrics_add(&m.workers[0].rejected, 1);
	cachet_metrics_add(&m.workers[1].timeouts[CACHET_TIMEOUT_IDLE], 2);
	cachet_metrics_store(&m, 3, 5, 1119);
	cachet_metrics_reload(&m, true, 2500000);
	cachet_metrics_reload(&m, false, 1000);
	const char *t = render(&m);
	assert_non_null(
	    strstr(t, "cachet_requests_total{code=\"304\",protocol=\"HTTP/1.1\"} 1000\n"));
	assert_non_null(strstr(t, "cachet_requests_total{code=\"200\",protocol=\"HTTP/1.0\"} 1\n"));
	assert_non_null(strstr(t, "cachet_requests_total{code=\"200\",protocol=\"HTTP/1.1\"} 1\n"));
	assert_non_null(
	    strstr(t, "cachet_requests_total{code=\"other\",protocol=\"HTTP/1.1\"} 1\n"));
	assert_null(strstr(t, "code=\"404\""));
	assert_non_null(strstr(t, "\ncachet_response_body_bytes_total 1034\n"));
	assert_non_null(strstr(t, "\ncachet_connections_open 1\n"));
	assert_non_null(strstr(t, "\ncachet_connections_accepted_total 5\n"));
	assert_non_null(strstr(t, "\ncachet_connections_rejected_total 1\n"));
	assert_non_null(strstr(t, "\ncachet_timeouts_total{kind=\"idle\"} 2\n"));
	assert_non_null(strstr(t, "\ncachet_timeouts_total{kind=\"header\"} 0\n"));
	assert_non_null(strstr(t, "\ncachet_store_files 5\n"));
	assert_non_null(strstr(t, "\ncachet_store_bytes 1119\n"));
	assert_non_null(strstr(t, "\ncachet_store_generation 3\n"));
	assert_non_null(strstr(t, "\ncachet_reloads_total{result=\"ok\"} 1\n"));
	assert_non_null(strstr(t, "\ncachet_reloads_total{result=\"failed\"} 1\n"));
	assert_non_null(strstr(t, "\ncachet_reload_duration_seconds 0.000001\n"));
	assert_non_null(strstr(t, "\ncachet_access_log_dropped_total 0\n"));
	assert_non_null(strstr(t, "\ncachet_build_info{version=\""));
	assert_non_null(strstr(t, "\nprocess_resident_memory_bytes 4096\n"));
	assert_non_null(strstr(t, "\nprocess_cpu_seconds_total 1.500000\n"));
	assert_non_null(strstr(t, "\nprocess_open_fds 7\n"));
	assert_non_null(strstr(t, "\nprocess_start_time_seconds 1795789184.000\n"));
	assert_non_null(strstr(t, "# TYPE cachet_connections_open gauge\n"));
	assert_non_null(strstr(t, "# TYPE cachet_requests_total counter\n"));
	cachet_metrics_free(&m);
}

static uint64_t dropped_42(const void *arg)
{
	(void)arg;
	return 42;
}

static void log_drops_shown(void **state)
{
	(void)state;
	struct cachet_metrics m;
	assert_int_equal(cachet_metrics_init(&m, 1), 0);
	m.log_dropped = dropped_42;
	assert_non_null(strstr(render(&m), "\ncachet_access_log_dropped_total 42\n"));
	cachet_metrics_free(&m);
}

static const char *answer(struct cachet_metrics *m, const char *req)
{
	static char out[80 * 1024];
	size_t n = cachet_metrics_answer(m, req, strlen(req), out, sizeof(out) - 1);
	assert_true(n > 0);
	out[n] = '\0';
	return out;
}

static void endpoints(void **state)
{
	(void)state;
	struct cachet_metrics m;
	assert_int_equal(cachet_metrics_init(&m, 1), 0);
	const char *r = answer(&m, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_true(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_non_null(strstr(r, "\r\n\r\nok\n"));
	atomic_store(&m.draining, true);
	r = answer(&m, "GET /healthz HTTP/1.1\r\n\r\n");
	assert_true(strncmp(r, "HTTP/1.1 503 ", 13) == 0);
	r = answer(&m, "GET /metrics HTTP/1.1\r\n\r\n");
	assert_true(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(r, "cachet_build_info"));
	assert_true(strncmp(answer(&m, "GET /metricsx HTTP/1.1\r\n\r\n"), "HTTP/1.1 404", 12) == 0);
	assert_true(strncmp(answer(&m, "POST /metrics HTTP/1.1\r\n\r\n"), "HTTP/1.1 404", 12) == 0);
	assert_true(strncmp(answer(&m, "GET / HTTP/1.1\r\n\r\n"), "HTTP/1.1 404", 12) == 0);
	assert_true(strncmp(answer(&m, ""), "HTTP/1.1 404", 12) == 0);
	cachet_metrics_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(codes_have_slots),
	    cmocka_unit_test(sums_across_workers),
	    cmocka_unit_test(log_drops_shown),
	    cmocka_unit_test(endpoints),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
