/* metrics.c - Prometheus text exposition of cachet's counters, and the --metrics listener.
 *
 * Not on the request path: the workers only add to their own counters (metrics.h); everything
 * here runs on the listener thread when a scrape arrives. */
#define _GNU_SOURCE
#include "cachet/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cachet/config.h"

#define POLL_MS      250  /* how often the listener looks at its stop flag */
#define REQ_MAX      4096 /* a scrape's request head; more is answered 404 */
#define RECV_TIMEOUT 2    /* seconds a scraper may take to send its head */
#define RENDER_MAX   (64 * 1024)

static const int codes[] = {CACHET_METRICS_CODES};
_Static_assert(sizeof(codes) / sizeof(codes[0]) + 1 == CACHET_METRICS_N_CODES,
               "CACHET_METRICS_N_CODES counts the codes and \"other\"");
_Static_assert(sizeof(struct cachet_metrics_worker) % 64 == 0,
               "a worker's counters fill whole cache lines");

static const char *const proto_names[CACHET_PROTO_COUNT] = {"HTTP/1.0", "HTTP/1.1", "HTTP/2.0"};
static const char *const timeout_names[CACHET_TIMEOUT_COUNT] = {"header", "idle", "send"};

unsigned cachet_metrics_code_index(int status)
{
	switch (status) {
	case 200:
		return 0;
	case 206:
		return 1;
	case 301:
		return 2;
	case 304:
		return 3;
	case 400:
		return 4;
	case 404:
		return 5;
	case 405:
		return 6;
	case 408:
		return 7;
	case 412:
		return 8;
	case 414:
		return 9;
	case 416:
		return 10;
	case 431:
		return 11;
	case 500:
		return 12;
	case 501:
		return 13;
	case 503:
		return 14;
	case 505:
		return 15;
	default:
		return 16;
	}
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cachet_metrics_init(struct cachet_metrics *m, unsigned n_workers)
{
	memset(m, 0, sizeof(*m));
	m->listen_fd = -1;
	m->n_workers = n_workers;
	m->start_time = wall_now();
	m->workers = aligned_alloc(64, sizeof(*m->workers) * (n_workers ? n_workers : 1));
	if (!m->workers)
		return -ENOMEM;
	memset(m->workers, 0, sizeof(*m->workers) * n_workers);
	return 0;
}

void cachet_metrics_free(struct cachet_metrics *m)
{
	free(m->workers);
	m->workers = NULL;
}

void cachet_metrics_store(struct cachet_metrics *m, uint64_t generation, uint64_t files,
                          uint64_t bytes)
{
	atomic_store(&m->store_files, files);
	atomic_store(&m->store_bytes, bytes);
	atomic_store(&m->store_generation, generation);
}

void cachet_metrics_reload(struct cachet_metrics *m, bool ok, int64_t duration_ns)
{
	atomic_fetch_add(ok ? &m->reloads_ok : &m->reloads_failed, 1);
	atomic_store(&m->reload_duration_ns, (uint64_t)(duration_ns > 0 ? duration_ns : 0));
}

void cachet_metrics_process_stats(const struct cachet_metrics *m, struct cachet_process_stats *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->start_time = m->start_time;
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		ps->cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		                  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size, resident;
	if (f && fscanf(f, "%llu %llu", &size, &resident) == 2)
		ps->resident_bytes = resident * (uint64_t)sysconf(_SC_PAGESIZE);
	if (f)
		fclose(f);
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		const struct dirent *de;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				ps->open_fds++;
		closedir(d);
		ps->open_fds--; /* the directory's own descriptor */
	}
}

/* ---- rendering ---- */

struct out {
	char *p;
	size_t len, cap;
	bool overflow;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	if (o->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): a false positive, as in config.c
	int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->overflow = true;
	else
		o->len += (size_t)n;
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Sum of one counter over the workers; field is its offset in struct cachet_metrics_worker. */
static uint64_t sum(const struct cachet_metrics *m, size_t field)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < m->n_workers; i++) {
		const char *base = (const char *)&m->workers[i];
		n +=
		    atomic_load_explicit((const atomic_uint_fast64_t *)(const void *)(base + field),
		                         memory_order_relaxed);
	}
	return n;
}

#define SUM(m, member) sum((m), offsetof(struct cachet_metrics_worker, member))

static void render_requests(const struct cachet_metrics *m, struct out *o)
{
	head(o, "cachet_requests_total", "counter", "Requests answered, by status and protocol.");
	for (unsigned c = 0; c < CACHET_METRICS_N_CODES; c++) {
		for (unsigned p = 0; p < CACHET_PROTO_COUNT; p++) {
			uint64_t n = SUM(m, requests[c][p]);
			if (n == 0 && !(c == 0 && p == CACHET_PROTO_HTTP11))
				continue; /* series appear once they count; 200 HTTP/1.1 always */
			char code[8];
			if (c < CACHET_METRICS_N_CODES - 1)
				snprintf(code, sizeof(code), "%d", codes[c]);
			else
				snprintf(code, sizeof(code), "other");
			put(o, "cachet_requests_total{code=\"%s\",protocol=\"%s\"} %llu\n", code,
			    proto_names[p], (unsigned long long)n);
		}
	}
}

static void render_connections(const struct cachet_metrics *m, struct out *o)
{
	/* closed first: a connection accepted meanwhile can only raise the difference */
	uint64_t closed = SUM(m, closed);
	uint64_t accepted = SUM(m, accepted);
	head(o, "cachet_response_body_bytes_total", "counter",
	     "Body bytes of the answers (as announced by Content-Length).");
	put(o, "cachet_response_body_bytes_total %llu\n", (unsigned long long)SUM(m, body_bytes));
	head(o, "cachet_connections_open", "gauge", "Connections open now.");
	put(o, "cachet_connections_open %llu\n",
	    (unsigned long long)(accepted > closed ? accepted - closed : 0));
	head(o, "cachet_connections_accepted_total", "counter", "Connections accepted and served.");
	put(o, "cachet_connections_accepted_total %llu\n", (unsigned long long)accepted);
	head(o, "cachet_connections_rejected_total", "counter",
	     "Connections closed at once: over --max-connections, or while draining.");
	put(o, "cachet_connections_rejected_total %llu\n", (unsigned long long)SUM(m, rejected));
	head(o, "cachet_timeouts_total", "counter", "Connections closed by a timeout, by kind.");
	for (unsigned k = 0; k < CACHET_TIMEOUT_COUNT; k++)
		put(o, "cachet_timeouts_total{kind=\"%s\"} %llu\n", timeout_names[k],
		    (unsigned long long)SUM(m, timeouts[k]));
}

static void render_store(const struct cachet_metrics *m, struct out *o)
{
	head(o, "cachet_store_files", "gauge", "Files in the generation being served.");
	put(o, "cachet_store_files %llu\n", (unsigned long long)atomic_load(&m->store_files));
	head(o, "cachet_store_bytes", "gauge", "Content bytes of the generation being served.");
	put(o, "cachet_store_bytes %llu\n", (unsigned long long)atomic_load(&m->store_bytes));
	head(o, "cachet_store_generation", "gauge", "Number of the generation being served.");
	put(o, "cachet_store_generation %llu\n",
	    (unsigned long long)atomic_load(&m->store_generation));
	head(o, "cachet_reloads_total", "counter", "Rescans of ROOT, by result.");
	put(o, "cachet_reloads_total{result=\"ok\"} %llu\n",
	    (unsigned long long)atomic_load(&m->reloads_ok));
	put(o, "cachet_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)atomic_load(&m->reloads_failed));
	head(o, "cachet_reload_duration_seconds", "gauge", "Duration of the last rescan.");
	put(o, "cachet_reload_duration_seconds %.6f\n",
	    (double)atomic_load(&m->reload_duration_ns) / 1e9);
}

size_t cachet_metrics_render(const struct cachet_metrics *m, const struct cachet_process_stats *ps,
                             char *dst, size_t cap)
{
	struct out o = {.p = dst, .cap = cap};
	render_requests(m, &o);
	render_connections(m, &o);
	render_store(m, &o);
	head(&o, "cachet_access_log_dropped_total", "counter",
	     "Access-log lines dropped because writing fell behind or failed.");
	put(&o, "cachet_access_log_dropped_total %llu\n",
	    (unsigned long long)(m->log_dropped ? m->log_dropped(m->log_dropped_arg) : 0));
	head(&o, "cachet_build_info", "gauge", "Always 1; the version is a label.");
	put(&o, "cachet_build_info{version=\"%s\"} 1\n", CACHET_VERSION);
	head(&o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	put(&o, "process_resident_memory_bytes %llu\n", (unsigned long long)ps->resident_bytes);
	head(&o, "process_cpu_seconds_total", "counter",
	     "Total user and system CPU time spent in seconds.");
	put(&o, "process_cpu_seconds_total %.6f\n", ps->cpu_seconds);
	head(&o, "process_open_fds", "gauge", "Number of open file descriptors.");
	put(&o, "process_open_fds %llu\n", (unsigned long long)ps->open_fds);
	head(&o, "process_start_time_seconds", "gauge",
	     "Start time of the process since unix epoch in seconds.");
	put(&o, "process_start_time_seconds %.3f\n", ps->start_time);
	return o.overflow ? 0 : o.len;
}

/* ---- the listener ---- */

static bool starts_with(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	return len >= n && memcmp(s, lit, n) == 0;
}

static size_t reply(char *dst, size_t cap, const char *status, const char *type, const char *body,
                    size_t body_len)
{
	int n = snprintf(dst, cap,
	                 "HTTP/1.1 %s\r\nServer: cachet\r\nContent-Type: %s\r\n"
	                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	                 status, type, body_len);
	if (n < 0 || (size_t)n + body_len > cap)
		return 0;
	memmove(dst + n, body, body_len);
	return (size_t)n + body_len;
}

/* Matches "GET <path> HTTP/1.x" with path exactly p (a query string is allowed). */
static bool is_get(const char *req, size_t len, const char *p)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "GET %s", p);
	if (n < 0 || !starts_with(req, len, line))
		return false;
	char next = (size_t)n < len ? req[n] : '\0';
	return next == ' ' || next == '?';
}

size_t cachet_metrics_answer(const struct cachet_metrics *m, const char *req, size_t len, char *dst,
                             size_t cap)
{
	if (is_get(req, len, "/metrics")) {
		static char body[RENDER_MAX]; /* listener thread only */
		struct cachet_process_stats ps;
		cachet_metrics_process_stats(m, &ps);
		size_t n = cachet_metrics_render(m, &ps, body, sizeof(body));
		if (n == 0)
			return reply(dst, cap, "500 Internal Server Error", "text/plain", "", 0);
		return reply(dst, cap, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body,
		             n);
	}
	if (is_get(req, len, "/healthz")) {
		if (atomic_load(&m->draining))
			return reply(dst, cap, "503 Service Unavailable", "text/plain",
			             "draining\n", 9);
		return reply(dst, cap, "200 OK", "text/plain", "ok\n", 3);
	}
	return reply(dst, cap, "404 Not Found", "text/plain", "not found\n", 10);
}

int cachet_metrics_listen(struct cachet_metrics *m, const struct sockaddr *addr, socklen_t len)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, addr, len) < 0 || listen(fd, 64) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	m->listen_fd = fd;
	return 0;
}

/* Reads one request head (up to its blank line, REQ_MAX or the timeout) and answers it. */
static void serve_one(struct cachet_metrics *m, int fd)
{
	static char req[REQ_MAX], out[RENDER_MAX + 512]; /* listener thread only */
	struct timeval tv = {.tv_sec = RECV_TIMEOUT};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	size_t len = 0;
	while (len < sizeof(req) - 1) {
		ssize_t n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	size_t n = cachet_metrics_answer(m, req, len, out, sizeof(out));
	for (size_t off = 0; off < n;) {
		ssize_t k = send(fd, out + off, n - off, MSG_NOSIGNAL);
		if (k <= 0)
			break;
		off += (size_t)k;
	}
}

static void *listener_main(void *arg)
{
	struct cachet_metrics *m = arg;
	while (!atomic_load(&m->stop)) {
		struct pollfd pfd = {.fd = m->listen_fd, .events = POLLIN};
		if (poll(&pfd, 1, POLL_MS) <= 0)
			continue;
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				poll(NULL, 0, POLL_MS); /* back off: out of descriptors */
			continue;
		}
		serve_one(m, fd);
		close(fd);
	}
	return NULL;
}

int cachet_metrics_start(struct cachet_metrics *m)
{
	int rc = pthread_create(&m->thread, NULL, listener_main, m);
	if (rc)
		return -rc;
	m->started = true;
	return 0;
}

void cachet_metrics_stop(struct cachet_metrics *m)
{
	if (m->started) {
		atomic_store(&m->stop, true);
		pthread_join(m->thread, NULL);
		m->started = false;
	}
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	m->listen_fd = -1;
}
