/* config.c - command-line parsing with getopt_long. Pure: no I/O but the usage text. */
#define _GNU_SOURCE
#include "cachet/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "cachet/chars.h"
#include "cachet/path.h"
#include "cachet/span.h"
#include "cachet/store.h"

enum {
	OPT_ROOT = 'r',
	OPT_LISTEN = 'l',
	OPT_THREADS = 't',
	OPT_HELP = 'h',
	OPT_VERSION = 'V',
	OPT_PID_FILE = 256,
	OPT_RELOAD,
	OPT_MAX_CONNECTIONS,
	OPT_MAX_MEMORY,
	OPT_WATCH,
	OPT_WATCH_DEBOUNCE,
	OPT_HEADER_TIMEOUT,
	OPT_KEEPALIVE_TIMEOUT,
	OPT_SEND_TIMEOUT,
	OPT_USER,
	OPT_COMPRESS,
	OPT_NO_COMPRESS,
	OPT_CACHE_IMMUTABLE,
	OPT_CACHE_DEFAULT,
	OPT_ZEROCOPY_MIN,
	OPT_CACHE_REVALIDATE,
	OPT_ADD_HEADER,
	OPT_ACCESS_LOG,
	OPT_LOG_FORMAT,
	OPT_METRICS,
	OPT_REPLACE,
	OPT_FALLBACK,
	OPT_ERROR_PAGE,
	OPT_LINK_PRELOAD,
	OPT_NO_HTTP2,
};

static const struct option long_options[] = {
    {"root", required_argument, NULL, OPT_ROOT},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"pid-file", required_argument, NULL, OPT_PID_FILE},
    {"reload", no_argument, NULL, OPT_RELOAD},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
    {"watch", no_argument, NULL, OPT_WATCH},
    {"watch-debounce", required_argument, NULL, OPT_WATCH_DEBOUNCE},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE_TIMEOUT},
    {"send-timeout", required_argument, NULL, OPT_SEND_TIMEOUT},
    {"user", required_argument, NULL, OPT_USER},
    {"compress", required_argument, NULL, OPT_COMPRESS},
    {"no-compress", no_argument, NULL, OPT_NO_COMPRESS},
    {"cache-immutable", required_argument, NULL, OPT_CACHE_IMMUTABLE},
    {"cache-default", required_argument, NULL, OPT_CACHE_DEFAULT},
    {"cache-revalidate", required_argument, NULL, OPT_CACHE_REVALIDATE},
    {"zerocopy-min", required_argument, NULL, OPT_ZEROCOPY_MIN},
    {"add-header", required_argument, NULL, OPT_ADD_HEADER},
    {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"metrics", required_argument, NULL, OPT_METRICS},
    {"replace", no_argument, NULL, OPT_REPLACE},
    {"fallback", required_argument, NULL, OPT_FALLBACK},
    {"error-page", required_argument, NULL, OPT_ERROR_PAGE},
    {"link-preload", no_argument, NULL, OPT_LINK_PRELOAD},
    {"no-http2", no_argument, NULL, OPT_NO_HTTP2},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

void cachet_config_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: cachet [options]\n"
	    "       cachet --reload [--pid-file FILE]\n"
	    "\n"
	    "Serves the files under ROOT from memory over HTTP/1.1.\n"
	    "\n"
	    "  -r, --root DIR            directory to serve (default .)\n"
	    "  -l, --listen HOST:PORT    address to listen on; [::1]:PORT for IPv6, port 0 picks\n"
	    "                            a free port (default " CACHET_DEFAULT_LISTEN ")\n"
	    "  -t, --threads N           worker threads, each pinned to one CPU of the affinity\n"
	    "                            set (default: one per CPU cachet may run on)\n"
	    "      --pid-file FILE       write the pid here once listening, remove it on exit;\n"
	    "                            --reload reads it (default /run/cachet.pid when /run\n"
	    "                            is writable, else $XDG_RUNTIME_DIR/cachet.pid, else\n"
	    "                            /tmp/cachet.pid; '' for none)\n"
	    "      --max-connections N   open connections across all workers (default 65536)\n"
	    "      --max-memory BYTES    content bytes a generation may hold, with optional K/M/G\n"
	    "                            suffix (default 0 = no limit)\n"
	    "      --header-timeout S    a request head must be complete within S seconds of its\n"
	    "                            first byte, else 408 and close (default 10)\n"
	    "      --keepalive-timeout S close idle keep-alive connections after S (default 30)\n"
	    "      --send-timeout S      close a connection whose client stops reading for S\n"
	    "                            seconds (default 30)\n"
	    "      --user NAME           when started as root: bind and load, then run as NAME\n"
	    "      --compress LIST       codings to offer for text-like files, best first\n"
	    "                            (default zstd,br,gzip); NAME.gz/.br/.zst beside a\n"
	    "                            file are used instead of compressing when present\n"
	    "      --no-compress         serve identity only\n"
	    "      --cache-immutable GLOB  Cache-Control: " CACHET_CACHE_POLICY_IMMUTABLE "\n"
	    "                            also for paths matching GLOB (repeatable); files with a\n"
	    "                            content hash in their name get it too\n"
	    "      --cache-default VALUE Cache-Control for everything else "
	    "(default " CACHET_CACHE_POLICY_DEFAULT ")\n"
	    "      --cache-revalidate GLOB  that Cache-Control for paths matching GLOB even\n"
	    "                            when their name looks hashed (repeatable)\n"
	    "      --add-header 'NAME: VALUE'  add this field to 200, 206, 304 and 301 answers\n"
	    "                            (repeatable; e.g. CORS or security headers)\n"
	    "      --fallback PATH       answer GET/HEAD of a missing path without an extension\n"
	    "                            with this file of ROOT (a single-page app's /index.html)\n"
	    "      --error-page 404=PATH the body of 404 answers: this file of ROOT\n"
	    "      --link-preload        add a Link: rel=preload field to each HTML file's 200s\n"
	    "                            for the scripts and stylesheets it loads\n"
	    "      --zerocopy-min BYTES  send bodies of at least BYTES (K/M/G suffix) with\n"
	    "                            zero-copy sends (default 0 = never; see README)\n"
	    "      --access-log FILE     log every answered request to FILE ('-': standard\n"
	    "                            output); SIGUSR1 reopens it (default: no log)\n"
	    "      --log-format FORMAT   combined (nginx's) or json (default combined)\n"
	    "      --metrics HOST:PORT   serve GET /metrics (Prometheus) and GET /healthz on a\n"
	    "                            separate address (default: off)\n"
	    "      --replace             start beside the server named by the pid file, then\n"
	    "                            tell it to drain and exit: a restart without downtime\n"
	    "      --no-http2            answer the HTTP/2 preface with HTTP/1.1's 505 (HTTP/2\n"
	    "                            with prior knowledge is on by default)\n"
	    "      --reload              ask the running server to rescan ROOT and report\n"
	    "      --watch               rescan ROOT when inotify reports a change (default off)\n"
	    "      --watch-debounce MS   quiet time before a --watch rescan (default 200)\n"
	    "  -h, --help                show this help\n"
	    "  -V, --version             show the version\n");
}

static int parse_size(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned long long mult = 1;
	if (*end == 'K' || *end == 'k')
		mult = 1ULL << 10;
	else if (*end == 'M' || *end == 'm')
		mult = 1ULL << 20;
	else if (*end == 'G' || *end == 'g')
		mult = 1ULL << 30;
	if (mult != 1)
		end++;
	if (errno || *end || v > max / mult)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

static int parse_port(const char *s, in_port_t *port)
{
	unsigned long long v;
	if (parse_size(s, 65535, &v) < 0 || strpbrk(s, "KkMmGg"))
		return -EINVAL;
	*port = htons((in_port_t)v);
	return 0;
}

int cachet_config_parse_listen(const char *s, union cachet_sockaddr *addr, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	memset(addr, 0, sizeof(*addr));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		struct sockaddr_in6 *a6 = &addr->in6;
		a6->sin6_family = AF_INET6;
		*len = sizeof(*a6);
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -EINVAL;
		return parse_port(close + 2, &a6->sin6_port);
	}
	colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	struct sockaddr_in *a4 = &addr->in;
	a4->sin_family = AF_INET;
	*len = sizeof(*a4);
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		strcpy(host, "0.0.0.0");
	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return -EINVAL;
	return parse_port(colon + 1, &a4->sin_port);
}

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the message into err and returns -EINVAL, for `return bad(...)` on every rejection. */
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): a false positive, as in main.c
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A Cache-Control value goes into every response head as it is: any control character but HTAB
 * (CR and LF would split the head, the others are invalid in a field value) is refused. */
static bool has_field_ctl(const char *s)
{
	for (; *s; s++)
		if (cachet_char_is_field_ctl(*s))
			return true;
	return false;
}

static int parse_timeout(struct cachet_config *cfg, int opt, const char *arg, char *err,
                         size_t errlen)
{
	unsigned long long v;
	const char *name = opt == OPT_HEADER_TIMEOUT      ? "--header-timeout"
	                   : opt == OPT_KEEPALIVE_TIMEOUT ? "--keepalive-timeout"
	                                                  : "--send-timeout";
	if (parse_size(arg, 86400, &v) < 0 || v == 0 || strpbrk(arg, "KkMmGg")) {
		snprintf(err, errlen, "%s: expected 1 to 86400 seconds, got '%s'", name, arg);
		return -EINVAL;
	}
	if (opt == OPT_HEADER_TIMEOUT)
		cfg->header_timeout_s = (unsigned)v;
	else if (opt == OPT_KEEPALIVE_TIMEOUT)
		cfg->keepalive_timeout_s = (unsigned)v;
	else
		cfg->send_timeout_s = (unsigned)v;
	return 0;
}

/* Appends a non-empty glob of option name to globs[0..*n), which holds CACHET_CONFIG_GLOBS_MAX. */
static int add_glob(const char **globs, unsigned *n, const char *name, const char *arg, char *err,
                    size_t errlen)
{
	if (*n == CACHET_CONFIG_GLOBS_MAX || !arg[0]) {
		snprintf(err, errlen, "%s: at most %d non-empty globs ('%s')", name,
		         CACHET_CONFIG_GLOBS_MAX, arg);
		return -EINVAL;
	}
	globs[(*n)++] = arg;
	return 0;
}

/* Fields cachet writes itself, or that belong to the connection: adding one would send it twice
 * or contradict the framing. */
static const char *const reserved_fields[] = {
    "accept-ranges",
    "allow",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-range",
    "content-type",
    "date",
    "etag",
    "keep-alive",
    "last-modified",
    "location",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "vary",
};

static bool field_reserved(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(reserved_fields) / sizeof(reserved_fields[0]); i++)
		if (strlen(reserved_fields[i]) == len &&
		    strncasecmp(name, reserved_fields[i], len) == 0)
			return true;
	return false;
}

/* --add-header 'Name: value': a token, a colon, a value of visible characters, spaces and tabs
 * (RFC 9110 §5.5; no CR, LF or other controls, so nothing can be injected), appended to
 * cfg->headers as "Name: value\r\n" with the value's outer whitespace trimmed. */
static int add_header(struct cachet_config *cfg, const char *arg, char *err, size_t errlen)
{
	const char *colon = strchr(arg, ':');
	size_t name_len = colon ? (size_t)(colon - arg) : 0;
	for (size_t i = 0; i < name_len; i++)
		if (!cachet_char_is_tchar(arg[i]))
			name_len = 0;
	if (name_len == 0)
		return bad(err, errlen, "--add-header: expected 'Name: value', got '%s'", arg);
	if (field_reserved(arg, name_len)) {
		snprintf(
		    err, errlen,
		    "--add-header: cachet sets %.*s itself (Cache-Control: see --cache-default)",
		    (int)name_len, arg);
		return -EINVAL;
	}
	struct cachet_span value =
	    cachet_span_trim_ows((struct cachet_span){colon + 1, strlen(colon + 1)});
	const char *v = value.p, *end = v + value.len;
	for (const char *p = v; p < end; p++) {
		if (cachet_char_is_field_ctl(*p)) {
			snprintf(err, errlen,
			         "--add-header: control character in the value of %.*s",
			         (int)name_len, arg);
			return -EINVAL;
		}
	}
	size_t need = name_len + 2 + (size_t)(end - v) + 2;
	if (cfg->headers_len + need > CACHET_CONFIG_HEADERS_MAX) {
		snprintf(err, errlen, "--add-header: at most %d bytes of added fields in all",
		         CACHET_CONFIG_HEADERS_MAX);
		return -EINVAL;
	}
	char *out = cfg->headers + cfg->headers_len;
	memcpy(out, arg, name_len);
	memcpy(out + name_len, ": ", 2);
	memcpy(out + name_len + 2, v, (size_t)(end - v));
	memcpy(out + need - 2, "\r\n", 2);
	cfg->headers_len += need;
	cfg->headers[cfg->headers_len] = '\0';
	return 0;
}

/* A file of ROOT named by an option: "/index.html" or "index.html", normalized as a request path
 * would be, into out (CACHET_PATH_MAX). One that climbs out of ROOT, or names a directory or
 * nothing, is refused. Whether the file exists is the store build's to say. */
static int root_file(const char *name, const char *arg, char *out, char *err, size_t errlen)
{
	char tmp[CACHET_PATH_MAX + 1];
	int n = -EINVAL;
	if (arg[0] && strlen(arg) < sizeof(tmp) - 1) {
		snprintf(tmp, sizeof(tmp), "%s%s", arg[0] == '/' ? "" : "/", arg);
		n = strpbrk(tmp, "?#%")
		        ? -EINVAL
		        : cachet_path_normalize(tmp, strlen(tmp), out, CACHET_PATH_MAX);
	}
	if (n <= 1 || out[n - 1] == '/') {
		snprintf(err, errlen, "%s: expected a file inside ROOT, got '%s'", name, arg);
		return -EINVAL;
	}
	return 0;
}

/* --error-page STATUS=PATH: only 404 has a page (the answer for a missing file). */
static int error_page(struct cachet_config *cfg, const char *arg, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq - arg != 3 || strncmp(arg, "404", 3) != 0) {
		snprintf(err, errlen,
		         "--error-page: expected 404=PATH (404 is the only status with a page), "
		         "got '%s'",
		         arg);
		return -EINVAL;
	}
	return root_file("--error-page", eq + 1, cfg->error_page, err, errlen);
}

/* Applies one option; returns 0 or -EINVAL with err set. */
static int apply(struct cachet_config *cfg, int opt, const char *arg, char *err, size_t errlen)
{
	unsigned long long v;
	switch (opt) {
	case OPT_ROOT:
		cfg->root = arg;
		return 0;
	case OPT_LISTEN:
		cfg->listen = arg;
		return 0;
	case OPT_THREADS:
		if (parse_size(arg, 1024, &v) < 0 || v == 0 || strpbrk(arg, "KkMmGg"))
			return bad(err, errlen, "--threads: expected 1 to 1024, got '%s'", arg);
		cfg->threads = (unsigned)v;
		return 0;
	case OPT_PID_FILE:
		cfg->pid_file = arg[0] ? arg : NULL;
		cfg->pid_file_set = true;
		return 0;
	case OPT_RELOAD:
		cfg->mode = CACHET_MODE_RELOAD;
		return 0;
	case OPT_MAX_CONNECTIONS:
		if (parse_size(arg, 1u << 24, &v) < 0 || v == 0)
			return bad(err, errlen,
			           "--max-connections: expected 1 to 16777216, got '%s'", arg);
		cfg->max_connections = (size_t)v;
		cfg->max_connections_set = true;
		return 0;
	case OPT_MAX_MEMORY:
	case OPT_ZEROCOPY_MIN:
		if (parse_size(arg, SIZE_MAX, &v) < 0) {
			snprintf(err, errlen, "%s: expected a byte count, got '%s'",
			         opt == OPT_MAX_MEMORY ? "--max-memory" : "--zerocopy-min", arg);
			return -EINVAL;
		}
		if (opt == OPT_MAX_MEMORY)
			cfg->max_memory = (size_t)v;
		else
			cfg->zerocopy_min = (size_t)v;
		return 0;
	case OPT_WATCH:
		cfg->watch = true;
		return 0;
	case OPT_WATCH_DEBOUNCE:
		if (parse_size(arg, 60000, &v) < 0 || strpbrk(arg, "KkMmGg"))
			return bad(err, errlen,
			           "--watch-debounce: expected 0 to 60000 ms, got '%s'", arg);
		cfg->watch_debounce_ms = (unsigned)v;
		return 0;
	case OPT_HEADER_TIMEOUT:
	case OPT_KEEPALIVE_TIMEOUT:
	case OPT_SEND_TIMEOUT:
		return parse_timeout(cfg, opt, arg, err, errlen);
	case OPT_COMPRESS: {
		int n = cachet_encoding_parse_list(arg, cfg->codings, CACHET_CODING_COUNT);
		if (n < 0)
			return bad(err, errlen,
			           "--compress: expected codings from zstd,br,gzip, got '%s'", arg);
		cfg->n_codings = (unsigned)n;
		return 0;
	}
	case OPT_NO_COMPRESS:
		cfg->n_codings = 0;
		return 0;
	case OPT_NO_HTTP2:
		cfg->no_http2 = true;
		return 0;
	case OPT_CACHE_IMMUTABLE:
		return add_glob(cfg->cache_globs, &cfg->cache.n_globs, "--cache-immutable", arg,
		                err, errlen);
	case OPT_CACHE_REVALIDATE:
		return add_glob(cfg->revalidate_globs, &cfg->cache.n_revalidate,
		                "--cache-revalidate", arg, err, errlen);
	case OPT_ADD_HEADER:
		return add_header(cfg, arg, err, errlen);
	case OPT_FALLBACK:
		return root_file("--fallback", arg, cfg->fallback, err, errlen);
	case OPT_ERROR_PAGE:
		return error_page(cfg, arg, err, errlen);
	case OPT_LINK_PRELOAD:
		cfg->link_preload = true;
		return 0;
	case OPT_CACHE_DEFAULT:
		if (!arg[0])
			return bad(err, errlen, "%s",
			           "--cache-default: expected a Cache-Control value");
		if (has_field_ctl(arg))
			return bad(err, errlen, "%s",
			           "--cache-default: control character in the value");
		cfg->cache.default_value = arg;
		return 0;
	case OPT_USER:
		if (!arg[0])
			return bad(err, errlen, "%s", "--user: expected a user name");
		cfg->user = arg;
		return 0;
	case OPT_ACCESS_LOG:
		if (!arg[0])
			return bad(err, errlen, "%s", "--access-log: expected a file name or '-'");
		cfg->access_log = arg;
		return 0;
	case OPT_LOG_FORMAT:
		if (strcmp(arg, "combined") == 0)
			cfg->log_format = CACHET_LOG_COMBINED;
		else if (strcmp(arg, "json") == 0)
			cfg->log_format = CACHET_LOG_JSON;
		else
			return bad(err, errlen, "--log-format: expected combined or json, got '%s'",
			           arg);
		return 0;
	case OPT_METRICS:
		cfg->metrics_listen = arg;
		return 0;
	case OPT_REPLACE:
		cfg->replace = true;
		return 0;
	case OPT_HELP:
		cfg->mode = CACHET_MODE_HELP;
		return 0;
	case OPT_VERSION:
		cfg->mode = CACHET_MODE_VERSION;
		return 0;
	default:
		return bad(err, errlen, "%s (try --help)", "unknown or incomplete option");
	}
}

/* Names the offending option as typed. optopt is no help for long options (it holds their
 * val, >= 256 here), so a "--name" argument is quoted from argv, without any "=value". */
static int option_error(int opt, int argc, char **argv, char *err, size_t errlen)
{
	char name[64] = "";
	const char *arg = optind >= 1 && optind <= argc ? argv[optind - 1] : "";
	if (strncmp(arg, "--", 2) == 0)
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg, "="), arg);
	else if (optopt > 0 && optopt < 128)
		snprintf(name, sizeof(name), "-%c", optopt);
	else
		snprintf(name, sizeof(name), "%s", arg);
	if (opt == ':')
		snprintf(err, errlen, "option %s needs a value (try --help)", name);
	else
		snprintf(err, errlen, "unknown option %s, or a value it does not take (try --help)",
		         name);
	return -EINVAL;
}

/* --metrics: a valid address, and never the content address (a scrape must not be answered by
 * the content port, nor the content port's clients get /metrics). */
static int metrics_check(struct cachet_config *cfg, char *err, size_t errlen)
{
	if (!cfg->metrics_listen)
		return 0;
	if (cachet_config_parse_listen(cfg->metrics_listen, &cfg->metrics_addr,
	                               &cfg->metrics_addr_len) < 0)
		return bad(err, errlen, "--metrics: expected HOST:PORT or [V6]:PORT, got '%s'",
		           cfg->metrics_listen);
	if (cachet_sockaddr_port(&cfg->addr) != 0 && cfg->metrics_addr_len == cfg->addr_len &&
	    memcmp(&cfg->metrics_addr, &cfg->addr, cfg->addr_len) == 0)
		return bad(err, errlen, "--metrics: %s is the content address (--listen)",
		           cfg->metrics_listen);
	return 0;
}

int cachet_config_parse(struct cachet_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = CACHET_MODE_SERVE;
	cfg->root = ".";
	cfg->listen = CACHET_DEFAULT_LISTEN;
	cfg->max_connections = 65536;
	cfg->watch_debounce_ms = 200;
	cfg->codings[0] = CACHET_CODING_ZSTD;
	cfg->codings[1] = CACHET_CODING_BR;
	cfg->codings[2] = CACHET_CODING_GZIP;
	cfg->n_codings = 3;
	cfg->cache.immutable_value = CACHET_CACHE_POLICY_IMMUTABLE;
	cfg->cache.default_value = CACHET_CACHE_POLICY_DEFAULT;
	cfg->cache.globs = cfg->cache_globs;
	cfg->cache.revalidate_globs = cfg->revalidate_globs;
	cfg->header_timeout_s = 10;
	cfg->keepalive_timeout_s = 30;
	cfg->send_timeout_s = 30;
	optind = 0; /* restartable: tests parse several command lines in one process */
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, ":r:l:t:hV", long_options, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return option_error(opt, argc, argv, err, errlen);
		if (apply(cfg, opt, optarg, err, errlen) < 0)
			return -EINVAL;
	}
	if (optind < argc)
		return bad(err, errlen, "unexpected argument '%s' (try --help)", argv[optind]);
	if (cachet_config_parse_listen(cfg->listen, &cfg->addr, &cfg->addr_len) < 0)
		return bad(err, errlen, "--listen: expected HOST:PORT or [V6]:PORT, got '%s'",
		           cfg->listen);
	if (cfg->mode == CACHET_MODE_RELOAD && cfg->pid_file_set && !cfg->pid_file)
		return bad(err, errlen, "%s", "--reload needs a pid file");
	if (cfg->replace && cfg->pid_file_set && !cfg->pid_file)
		return bad(err, errlen, "%s", "--replace needs a pid file");
	return metrics_check(cfg, err, errlen);
}

void cachet_config_store_options(const struct cachet_config *cfg, struct cachet_store_options *opt)
{
	*opt =
	    (struct cachet_store_options){.max_bytes = cfg->max_memory,
	                                  .codings = cfg->codings,
	                                  .n_codings = cfg->n_codings,
	                                  .cache = &cfg->cache,
	                                  .extra_headers = cfg->headers,
	                                  .fallback = cfg->fallback[0] ? cfg->fallback : NULL,
	                                  .error_page = cfg->error_page[0] ? cfg->error_page : NULL,
	                                  .link_preload = cfg->link_preload};
}
