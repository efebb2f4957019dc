/* accesslog.c - access-log lines (nginx combined or JSON), per-worker buffers, the writer thread.
 * The hand-over rule between a worker and the writer is at the top of accesslog.h. */
#define _GNU_SOURCE
#include "cachet/accesslog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cachet/clock.h"

#define WRITER_PERIOD_NS 250000000L          /* the writer looks at every worker this often */
#define REPORT_PERIOD_NS (60LL * 1000000000) /* drops are said on stderr at most once a minute */

_Static_assert(CACHET_ACCESSLOG_LINE_MAX <= CACHET_ACCESSLOG_BUF,
               "a line always fits an empty buffer");

static const char hex_upper[] = "0123456789ABCDEF";

/* ---- formatting (pure) ---- */

/* Bytes a log field may not carry as they are: controls, DEL and above, the quote and the
 * backslash. nginx escapes exactly these in its log variables (as \xHH, upper case). */
static bool needs_escape(unsigned char c)
{
	return c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
}

/* s, cut at max source bytes, escaped as nginx does (\xHH); "-" when empty. */
static char *put_clf(char *p, struct cachet_span s, size_t max)
{
	if (s.len == 0) {
		*p++ = '-';
		return p;
	}
	size_t n = s.len < max ? s.len : max;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (!needs_escape(c)) {
			*p++ = (char)c;
			continue;
		}
		p[0] = '\\';
		p[1] = 'x';
		p[2] = hex_upper[c >> 4];
		p[3] = hex_upper[c & 15];
		p += 4;
	}
	return p;
}

/* s, cut at max source bytes, as the inside of a JSON string: \" and \\, other escaped bytes as
 * \u00XX (bytes from 0x80 read as Latin-1, so that the line stays valid UTF-8 whatever was sent).
 */
static char *put_json(char *p, struct cachet_span s, size_t max)
{
	size_t n = s.len < max ? s.len : max;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (!needs_escape(c)) {
			*p++ = (char)c;
		} else if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else {
			memcpy(p, "\\u00", 4);
			p[4] = hex_upper[c >> 4];
			p[5] = hex_upper[c & 15];
			p += 6;
		}
	}
	return p;
}

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_remote(char *p, const struct cachet_log_remote *r)
{
	if (r && r->family == AF_INET) {
		for (int i = 0; i < 4; i++) {
			if (i)
				*p++ = '.';
			p = put_u64(p, r->addr[i]);
		}
		return p;
	}
	char host[INET6_ADDRSTRLEN];
	if (r && r->family == AF_INET6 && inet_ntop(AF_INET6, r->addr, host, sizeof(host)))
		return put_str(p, host);
	*p++ = '-';
	return p;
}

static char *put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

/* Called when the second changes: both time forms, in UTC. */
static void clock_set(struct cachet_accesslog_clock *c, time_t now)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	gmtime_r(&now, &tm);
	unsigned year = (unsigned)tm.tm_year + 1900, mon = (unsigned)tm.tm_mon % 12;
	char *p = c->clf; /* 27/Nov/2026:14:19:44 +0000 */
	p = put_digits(p, (unsigned)tm.tm_mday, 2);
	*p++ = '/';
	p = put_str(p, months[mon]);
	*p++ = '/';
	p = put_digits(p, year, 4);
	*p++ = ':';
	p = put_digits(p, (unsigned)tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)tm.tm_sec, 2);
	memcpy(p, " +0000", 7);
	p = c->iso; /* 2026-11-27T14:19:44Z */
	p = put_digits(p, year, 4);
	*p++ = '-';
	p = put_digits(p, mon + 1, 2);
	*p++ = '-';
	p = put_digits(p, (unsigned)tm.tm_mday, 2);
	*p++ = 'T';
	p = put_digits(p, (unsigned)tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)tm.tm_sec, 2);
	memcpy(p, "Z", 2);
	c->sec = now;
}

/* nginx combined: $remote_addr - $remote_user [$time_local] "$request" $status
 * $body_bytes_sent "$http_referer" "$http_user_agent" (time in UTC). */
static char *format_combined(char *p, const struct cachet_accesslog_entry *e,
                             const struct cachet_accesslog_clock *c)
{
	p = put_remote(p, e->remote);
	p = put_str(p, " - - [");
	p = put_str(p, c->clf);
	p = put_str(p, "] \"");
	if (e->method.len) {
		p = put_clf(p, e->method, 32);
		*p++ = ' ';
		p = put_clf(p, e->path, CACHET_ACCESSLOG_PATH_MAX);
		*p++ = ' ';
		p = put_str(p, e->protocol);
	} else {
		*p++ = '-'; /* nothing usable was parsed (a 400, or a 408 before a full head) */
	}
	p = put_str(p, "\" ");
	p = put_u64(p, (uint64_t)e->status);
	*p++ = ' ';
	p = put_u64(p, e->bytes);
	p = put_str(p, " \"");
	p = put_clf(p, e->referer, CACHET_ACCESSLOG_FIELD_MAX);
	p = put_str(p, "\" \"");
	p = put_clf(p, e->user_agent, CACHET_ACCESSLOG_FIELD_MAX);
	*p++ = '"';
	return p;
}

static char *json_key(char *p, const char *key)
{
	p = put_str(p, key);
	return p;
}

static char *format_json(char *p, const struct cachet_accesslog_entry *e,
                         const struct cachet_accesslog_clock *c)
{
	p = json_key(p, "{\"time\":\"");
	p = put_str(p, c->iso);
	p = json_key(p, "\",\"remote\":\"");
	p = put_remote(p, e->remote);
	p = json_key(p, "\",\"method\":\"");
	p = put_json(p, e->method, 32);
	p = json_key(p, "\",\"path\":\"");
	p = put_json(p, e->path, CACHET_ACCESSLOG_PATH_MAX);
	p = json_key(p, "\",\"protocol\":\"");
	p = put_str(p, e->protocol);
	p = json_key(p, "\",\"status\":");
	p = put_u64(p, (uint64_t)e->status);
	p = json_key(p, ",\"bytes\":");
	p = put_u64(p, e->bytes);
	p = json_key(p, ",\"referer\":\"");
	p = put_json(p, e->referer, CACHET_ACCESSLOG_FIELD_MAX);
	p = json_key(p, "\",\"user_agent\":\"");
	p = put_json(p, e->user_agent, CACHET_ACCESSLOG_FIELD_MAX);
	p = json_key(p, "\",\"encoding\":\"");
	p = put_str(p, e->encoding);
	p = json_key(p, "\",\"duration_us\":");
	p = put_u64(p, e->duration_us);
	*p++ = '}';
	return p;
}

size_t cachet_accesslog_format(enum cachet_log_format format,
                               const struct cachet_accesslog_entry *e,
                               struct cachet_accesslog_clock *clock, time_t now, char *dst)
{
	if (clock->sec != now || !clock->clf[0])
		clock_set(clock, now);
	char *p =
	    format == CACHET_LOG_JSON ? format_json(dst, e, clock) : format_combined(dst, e, clock);
	*p++ = '\n';
	return (size_t)(p - dst);
}

/* ---- the worker's side ---- */

void cachet_accesslog_seal(struct cachet_accesslog_worker *lw)
{
	struct cachet_accesslog_buf *b = &lw->bufs[lw->cur];
	if (atomic_load_explicit(&b->full, memory_order_acquire) || b->len == 0)
		return;
	atomic_store_explicit(&b->full, 1, memory_order_release); /* the writer's now */
	lw->cur = (lw->cur + 1) % CACHET_ACCESSLOG_NBUF;
}

/* The most bytes e's line can take: every source byte escaped to 6, plus the fixed parts. */
static size_t line_bound(const struct cachet_accesslog_entry *e)
{
	return 6 * (e->method.len + e->path.len + e->referer.len + e->user_agent.len) + 256;
}

void cachet_accesslog_add(struct cachet_accesslog_worker *lw,
                          const struct cachet_accesslog_entry *e, time_t now)
{
	struct cachet_accesslog_buf *b = &lw->bufs[lw->cur];
	size_t bound = line_bound(e);
	if (bound > CACHET_ACCESSLOG_LINE_MAX)
		bound = CACHET_ACCESSLOG_LINE_MAX;
	if (atomic_load_explicit(&b->full, memory_order_acquire) == 0 &&
	    CACHET_ACCESSLOG_BUF - b->len < bound) {
		cachet_accesslog_seal(lw);
		b = &lw->bufs[lw->cur];
	}
	if (atomic_load_explicit(&b->full, memory_order_acquire)) {
		/* every buffer is waiting for the writer: drop, never wait (counted, reported) */
		atomic_store_explicit(&lw->dropped,
		                      atomic_load_explicit(&lw->dropped, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
		return;
	}
	b->len += (uint32_t)cachet_accesslog_format(lw->log->format, e, &lw->clock, now,
	                                            b->data + b->len);
	b->lines++;
}

/* ---- the writer's side ---- */

static int open_path(const char *path)
{
	if (strcmp(path, "-") == 0)
		return STDOUT_FILENO;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	return fd < 0 ? -errno : fd;
}

int cachet_accesslog_open(struct cachet_accesslog *l, const char *path,
                          enum cachet_log_format format, unsigned n_workers)
{
	memset(l, 0, sizeof(*l));
	l->path = path;
	l->format = format;
	l->n_workers = n_workers;
	l->fd = open_path(path);
	if (l->fd < 0)
		return l->fd;
	l->workers = calloc(n_workers, sizeof(*l->workers));
	if (!l->workers) {
		cachet_accesslog_close(l);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n_workers; i++) {
		struct cachet_accesslog_worker *lw = &l->workers[i];
		lw->log = l;
		lw->bufs = calloc(CACHET_ACCESSLOG_NBUF, sizeof(*lw->bufs));
		if (!lw->bufs) {
			cachet_accesslog_close(l);
			return -ENOMEM;
		}
	}
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	return 0;
}

/* The whole buffer, resuming short writes. A failed write loses the buffer's lines (counted):
 * waiting for the disk would stall the worker that needs the buffer back. */
static void buf_write(struct cachet_accesslog *l, struct cachet_accesslog_buf *b)
{
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = write(l->fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			atomic_fetch_add(&l->write_dropped, b->lines);
			break;
		}
		off += (size_t)n;
	}
}

static void reopen_now(struct cachet_accesslog *l)
{
	if (l->fd == STDOUT_FILENO)
		return;
	int fd = open_path(l->path);
	if (fd < 0) {
		fprintf(stderr, "cachet: access log: cannot reopen %s: %s (keeping the old file)\n",
		        l->path, strerror(-fd));
		return;
	}
	close(l->fd);
	l->fd = fd;
}

size_t cachet_accesslog_write_pending(struct cachet_accesslog *l)
{
	size_t lines = 0;
	if (atomic_exchange(&l->reopen, false))
		reopen_now(l);
	for (unsigned i = 0; i < l->n_workers; i++) {
		struct cachet_accesslog_worker *lw = &l->workers[i];
		for (unsigned k = 0; k < CACHET_ACCESSLOG_NBUF; k++) {
			struct cachet_accesslog_buf *b = &lw->bufs[lw->wnext];
			if (!atomic_load_explicit(&b->full, memory_order_acquire))
				break;
			buf_write(l, b);
			lines += b->lines;
			b->len = b->lines = 0;
			atomic_store_explicit(&b->full, 0,
			                      memory_order_release); /* back to the worker */
			lw->wnext = (lw->wnext + 1) % CACHET_ACCESSLOG_NBUF;
		}
	}
	return lines;
}

uint64_t cachet_accesslog_dropped(const struct cachet_accesslog *l)
{
	uint64_t n = atomic_load_explicit(&l->write_dropped, memory_order_relaxed);
	for (unsigned i = 0; i < l->n_workers; i++)
		n += atomic_load_explicit(&l->workers[i].dropped, memory_order_relaxed);
	return n;
}

/* One stderr line a minute at most, and only when lines were dropped since the last one. */
static void drops_report(struct cachet_accesslog *l)
{
	int64_t now = cachet_clock_mono_ns();
	if (l->report_ns && now - l->report_ns < REPORT_PERIOD_NS)
		return;
	uint64_t total = cachet_accesslog_dropped(l);
	if (total == l->reported)
		return;
	fprintf(stderr, "cachet: access log: %llu lines dropped (writing fell behind or failed)\n",
	        (unsigned long long)(total - l->reported));
	l->reported = total;
	l->report_ns = now;
}

static void *writer_main(void *arg)
{
	struct cachet_accesslog *l = arg;
	pthread_mutex_lock(&l->lock);
	while (!l->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WRITER_PERIOD_NS;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&l->cond, &l->lock, &until);
		pthread_mutex_unlock(&l->lock);
		cachet_accesslog_write_pending(l);
		drops_report(l);
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	cachet_accesslog_write_pending(l); /* what the workers handed over on their way out */
	l->report_ns = 0;
	drops_report(l);
	return NULL;
}

int cachet_accesslog_start(struct cachet_accesslog *l)
{
	int rc = pthread_create(&l->thread, NULL, writer_main, l);
	if (rc)
		return -rc;
	l->started = true;
	return 0;
}

void cachet_accesslog_reopen(struct cachet_accesslog *l)
{
	atomic_store(&l->reopen, true);
}

void cachet_accesslog_stop(struct cachet_accesslog *l)
{
	if (!l->started)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	l->started = false;
}

void cachet_accesslog_close(struct cachet_accesslog *l)
{
	if (l->workers) {
		for (unsigned i = 0; i < l->n_workers; i++)
			free(l->workers[i].bufs);
		free(l->workers);
		l->workers = NULL;
	}
	if (l->fd > STDOUT_FILENO)
		close(l->fd);
	l->fd = -1;
}
