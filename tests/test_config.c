/* test_config.c - command-line parsing: defaults, each option, listen addresses, rejections. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cachet/cache_policy.h"
#include "cachet/config.h"
#include "cachet/store.h"

#define ARGS_MAX 10

/* Runs cachet_config_parse on {"cachet", args..., NULL}. getopt may permute argv, so it gets a
 * fresh pointer array each time. */
static int parse(struct cachet_config *cfg, const char *const *args, char *err, size_t errlen)
{
	char *argv[ARGS_MAX + 2];
	int argc = 0;
	argv[argc++] = (char *)"cachet";
	for (size_t i = 0; i < ARGS_MAX && args[i]; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	err[0] = '\0';
	return cachet_config_parse(cfg, argc, argv, err, errlen);
}

static void check_addr(const union cachet_sockaddr *u, socklen_t len, int family, const char *host,
                       unsigned port)
{
	char text[INET6_ADDRSTRLEN];
	assert_int_equal(u->sa.sa_family, family);
	assert_int_equal(ntohs(cachet_sockaddr_port(u)), port);
	if (family == AF_INET) {
		const struct sockaddr_in *a = &u->in;
		assert_int_equal(len, sizeof(*a));
		assert_non_null(inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text)));
		assert_int_equal(ntohs(a->sin_port), port);
	} else {
		const struct sockaddr_in6 *a = &u->in6;
		assert_int_equal(len, sizeof(*a));
		assert_non_null(inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text)));
		assert_int_equal(ntohs(a->sin6_port), port);
	}
	assert_string_equal(text, host);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
	(void)state;
	struct cachet_config cfg;
	char err[256];
	static const char *const none[] = {NULL};
	assert_int_equal(parse(&cfg, none, err, sizeof(err)), 0);
	assert_int_equal(cfg.mode, CACHET_MODE_SERVE);
	assert_string_equal(cfg.root, ".");
	assert_string_equal(cfg.listen, "127.0.0.1:8080");
	assert_string_equal(cfg.listen, CACHET_DEFAULT_LISTEN);
	check_addr(&cfg.addr, cfg.addr_len, AF_INET, "127.0.0.1", 8080);
	assert_int_equal(cfg.threads, 0);
	assert_null(cfg.pid_file); /* main picks the default: it depends on the file system */
	assert_false(cfg.pid_file_set);
	assert_int_equal(cfg.max_connections, 65536);
	assert_int_equal(cfg.max_memory, 0);
	assert_int_equal(cfg.zerocopy_min, 0);
	assert_false(cfg.watch);
	assert_int_equal(cfg.watch_debounce_ms, 200);
}

/* ---- accepted command lines ---- */

struct ok_case {
	const char *args[ARGS_MAX + 1];
	enum cachet_mode mode;
	const char *root;
	const char *listen;
	unsigned threads;
	const char *pid_file; /* NULL: none */
	size_t max_connections;
	size_t max_memory;
	bool watch;
	unsigned watch_debounce_ms;
};

#define SERVE  CACHET_MODE_SERVE
#define RELOAD CACHET_MODE_RELOAD
#define HELP   CACHET_MODE_HELP
#define VER    CACHET_MODE_VERSION
#define DL     CACHET_DEFAULT_LISTEN
#define DPID   NULL
#define KB     ((size_t)1 << 10)
#define MB     ((size_t)1 << 20)
#define GB     ((size_t)1 << 30)

static const struct ok_case ok_cases[] = {
    {{"--root", "/srv/www"}, SERVE, "/srv/www", DL, 0, DPID, 65536, 0, false, 200},
    {{"-r", "site"}, SERVE, "site", DL, 0, DPID, 65536, 0, false, 200},
    {{"--root=site"}, SERVE, "site", DL, 0, DPID, 65536, 0, false, 200},
    {{"-rsite"}, SERVE, "site", DL, 0, DPID, 65536, 0, false, 200},
    {{"--listen", "0.0.0.0:80"}, SERVE, ".", "0.0.0.0:80", 0, DPID, 65536, 0, false, 200},
    {{"-l", "[::1]:8080"}, SERVE, ".", "[::1]:8080", 0, DPID, 65536, 0, false, 200},
    {{"--listen=127.0.0.1:0"}, SERVE, ".", "127.0.0.1:0", 0, DPID, 65536, 0, false, 200},
    {{"--listen", "localhost:80"}, SERVE, ".", "localhost:80", 0, DPID, 65536, 0, false, 200},
    {{"--threads", "1"}, SERVE, ".", DL, 1, DPID, 65536, 0, false, 200},
    {{"-t", "8"}, SERVE, ".", DL, 8, DPID, 65536, 0, false, 200},
    {{"--threads", "1024"}, SERVE, ".", DL, 1024, DPID, 65536, 0, false, 200},
    {{"--threads", "2", "--threads", "3"}, SERVE, ".", DL, 3, DPID, 65536, 0, false, 200},
    {{"--pid-file", "/run/c.pid"}, SERVE, ".", DL, 0, "/run/c.pid", 65536, 0, false, 200},
    {{"--max-connections", "1"}, SERVE, ".", DL, 0, DPID, 1, 0, false, 200},
    {{"--max-connections", "1000"}, SERVE, ".", DL, 0, DPID, 1000, 0, false, 200},
    {{"--max-connections", "64K"}, SERVE, ".", DL, 0, DPID, 65536, 0, false, 200},
    {{"--max-connections", "16777216"}, SERVE, ".", DL, 0, DPID, 16777216, 0, false, 200},
    {{"--max-memory", "0"}, SERVE, ".", DL, 0, DPID, 65536, 0, false, 200},
    {{"--max-memory", "12345"}, SERVE, ".", DL, 0, DPID, 65536, 12345, false, 200},
    {{"--max-memory", "1K"}, SERVE, ".", DL, 0, DPID, 65536, KB, false, 200},
    {{"--max-memory", "2k"}, SERVE, ".", DL, 0, DPID, 65536, 2 * KB, false, 200},
    {{"--max-memory", "3M"}, SERVE, ".", DL, 0, DPID, 65536, 3 * MB, false, 200},
    {{"--max-memory", "5m"}, SERVE, ".", DL, 0, DPID, 65536, 5 * MB, false, 200},
    {{"--max-memory", "1G"}, SERVE, ".", DL, 0, DPID, 65536, GB, false, 200},
    {{"--max-memory", "4g"}, SERVE, ".", DL, 0, DPID, 65536, 4 * GB, false, 200},
    {{"--root", "r", "--listen", "[::]:443", "--threads", "4", "--pid-file", "p", "--max-memory",
      "256M"},
     SERVE,
     "r",
     "[::]:443",
     4,
     "p",
     65536,
     256 * MB,
     false,
     200},
    {{"--help"}, HELP, ".", DL, 0, DPID, 65536, 0, false, 200},
    {{"-h"}, HELP, ".", DL, 0, DPID, 65536, 0, false, 200},
    {{"--version"}, VER, ".", DL, 0, DPID, 65536, 0, false, 200},
    {{"-V"}, VER, ".", DL, 0, DPID, 65536, 0, false, 200},
    {{"--reload"}, RELOAD, ".", DL, 0, DPID, 65536, 0, false, 200},
    {{"--reload", "--pid-file", "/x.pid"}, RELOAD, ".", DL, 0, "/x.pid", 65536, 0, false, 200},
    {{"--pid-file", "/y.pid", "--reload"}, RELOAD, ".", DL, 0, "/y.pid", 65536, 0, false, 200},
    {{"--"}, SERVE, ".", DL, 0, DPID, 65536, 0, false, 200},
    {{"--pid-file", ""}, SERVE, ".", DL, 0, NULL, 65536, 0, false, 200},
    {{"--pid-file="}, SERVE, ".", DL, 0, NULL, 65536, 0, false, 200},
    {{"--watch"}, SERVE, ".", DL, 0, DPID, 65536, 0, true, 200},
    {{"--watch-debounce", "0"}, SERVE, ".", DL, 0, DPID, 65536, 0, false, 0},
    {{"--watch-debounce", "60000"}, SERVE, ".", DL, 0, DPID, 65536, 0, false, 60000},
    {{"--watch", "--watch-debounce=50"}, SERVE, ".", DL, 0, DPID, 65536, 0, true, 50},
};

static void test_accepted(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		struct cachet_config cfg;
		char err[256];
		int rc = parse(&cfg, c->args, err, sizeof(err));
		if (rc != 0)
			print_error("case %zu (%s): rc %d '%s'\n", i, c->args[0], rc, err);
		assert_int_equal(rc, 0);
		assert_int_equal(cfg.mode, c->mode);
		assert_string_equal(cfg.root, c->root);
		assert_string_equal(cfg.listen, c->listen);
		assert_int_equal(cfg.threads, c->threads);
		if (c->pid_file)
			assert_string_equal(cfg.pid_file, c->pid_file);
		else
			assert_null(cfg.pid_file);
		assert_int_equal(cfg.max_connections, c->max_connections);
		assert_int_equal(cfg.max_memory, c->max_memory);
		assert_int_equal(cfg.watch, c->watch);
		assert_int_equal(cfg.watch_debounce_ms, c->watch_debounce_ms);
		assert_true(cfg.addr_len > 0);
	}
}

/* ---- listen addresses ---- */

struct listen_case {
	const char *in;
	int family; /* 0: rejected */
	const char *host;
	unsigned port;
};

static const struct listen_case listen_cases[] = {
    {"127.0.0.1:8080", AF_INET, "127.0.0.1", 8080},
    {"127.0.0.1:0", AF_INET, "127.0.0.1", 0},
    {"0.0.0.0:65535", AF_INET, "0.0.0.0", 65535},
    {"10.1.2.3:1", AF_INET, "10.1.2.3", 1},
    {"localhost:80", AF_INET, "127.0.0.1", 80},
    {"[::1]:8080", AF_INET6, "::1", 8080},
    {"[::]:443", AF_INET6, "::", 443},
    {"[fe80::1:2]:0", AF_INET6, "fe80::1:2", 0},
    {"[::ffff:1.2.3.4]:80", AF_INET6, "::ffff:1.2.3.4", 80},
    {"8080", 0, NULL, 0},
    {"1.2.3.4:", 0, NULL, 0},
    {"1.2.3.4:70000", 0, NULL, 0},
    {"1.2.3.4:65536", 0, NULL, 0},
    {"1.2.3.4:99999999999999999999999", 0, NULL, 0},
    {"1.2.3.4:-1", 0, NULL, 0},
    {"1.2.3.4:+80", 0, NULL, 0},
    {"1.2.3.4: 80", 0, NULL, 0},
    {"1.2.3.4:80x", 0, NULL, 0},
    {"1.2.3.4:8K", 0, NULL, 0},
    {"1.2.3.4:80:80", 0, NULL, 0},
    {"[::1]8080", 0, NULL, 0},
    {"[::1]:", 0, NULL, 0},
    {"[::1]:65536", 0, NULL, 0},
    {"[::1:8080", 0, NULL, 0},
    {"[1.2.3.4]:80", 0, NULL, 0},
    {"[]:80", 0, NULL, 0},
    {"[::1]:8080x", 0, NULL, 0},
    {"::1:8080", 0, NULL, 0},
    {"host:abc", 0, NULL, 0},
    {"example.com:80", 0, NULL, 0},
    {"999.1.1.1:80", 0, NULL, 0},
    {"1.2.3:80", 0, NULL, 0},
    {"localhost", 0, NULL, 0},
    {"localhost:", 0, NULL, 0},
    {"", 0, NULL, 0},
    {"[0123456789012345678901234567890123456789012345678901234567890123]:80", 0, NULL, 0},
    {"0123456789012345678901234567890123456789012345678901234567890123:80", 0, NULL, 0},
};

static void test_listen(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(listen_cases) / sizeof(listen_cases[0]); i++) {
		const struct listen_case *c = &listen_cases[i];
		union cachet_sockaddr ss;
		socklen_t len = 0;
		int rc = cachet_config_parse_listen(c->in, &ss, &len);
		if ((rc == 0) != (c->family != 0))
			print_error("case %zu '%s': rc %d\n", i, c->in, rc);
		if (!c->family) {
			assert_int_equal(rc, -EINVAL);
			/* Through the command line: a message that names the option and value. */
			struct cachet_config cfg;
			char err[512];
			const char *args[] = {"--listen", c->in, NULL};
			assert_int_equal(parse(&cfg, args, err, sizeof(err)), -EINVAL);
			assert_non_null(strstr(err, "--listen"));
			assert_non_null(strstr(err, c->in));
			continue;
		}
		assert_int_equal(rc, 0);
		check_addr(&ss, len, c->family, c->host, c->port);
		struct cachet_config cfg;
		char err[256];
		const char *args[] = {"-l", c->in, NULL};
		assert_int_equal(parse(&cfg, args, err, sizeof(err)), 0);
		check_addr(&cfg.addr, cfg.addr_len, c->family, c->host, c->port);
	}
}

/* ---- rejected command lines ---- */

struct bad_case {
	const char *args[ARGS_MAX + 1];
	const char *msg[2]; /* each must appear in the message */
};

static const struct bad_case bad_cases[] = {
    /* --fallback, --error-page: a file inside ROOT; 404 the only status */
    {{"--fallback", "../index.html"}, {"--fallback", "inside ROOT"}},
    {{"--fallback", "/a/../../x.html"}, {"--fallback", NULL}},
    {{"--fallback", "/"}, {"--fallback", NULL}},
    {{"--fallback", "/app/"}, {"--fallback", NULL}},
    {{"--fallback", ""}, {"--fallback", NULL}},
    {{"--fallback", "/%2e%2e/x"}, {"--fallback", NULL}},
    {{"--error-page", "500=/500.html"}, {"--error-page", "'500=/500.html'"}},
    {{"--error-page", "abc=/x.html"}, {"--error-page", NULL}},
    {{"--error-page", "/404.html"}, {"--error-page", NULL}},
    {{"--error-page", "4040=/x.html"}, {"--error-page", NULL}},
    {{"--error-page", "404=../404.html"}, {"--error-page", "inside ROOT"}},
    {{"--error-page", "404="}, {"--error-page", NULL}},
    /* --threads */
    {{"--threads", "0"}, {"--threads", "'0'"}},
    {{"--threads", "-1"}, {"--threads", "'-1'"}},
    {{"--threads", "abc"}, {"--threads", "'abc'"}},
    {{"--threads", "5000"}, {"--threads", "'5000'"}},
    {{"--threads", "1025"}, {"--threads", NULL}},
    {{"--threads", ""}, {"--threads", NULL}},
    {{"--threads", "4K"}, {"--threads", NULL}},
    {{"--threads", "2x"}, {"--threads", NULL}},
    {{"--threads", " 2"}, {"--threads", NULL}},
    {{"-t", "0"}, {"--threads", NULL}},
    {{"--threads", "99999999999999999999999999"}, {"--threads", NULL}},
    /* --max-connections */
    {{"--max-connections", "0"}, {"--max-connections", NULL}},
    {{"--max-connections", "16777217"}, {"--max-connections", NULL}},
    {{"--max-connections", "many"}, {"--max-connections", NULL}},
    {{"--max-connections", "-5"}, {"--max-connections", NULL}},
    /* --max-memory */
    {{"--zerocopy-min", "1T"}, {"--zerocopy-min", "'1T'"}},
    {{"--zerocopy-min", "-1"}, {"--zerocopy-min", NULL}},
    {{"--zerocopy-min", ""}, {"--zerocopy-min", NULL}},
    {{"--max-memory", "1T"}, {"--max-memory", "'1T'"}},
    {{"--max-memory", "-1"}, {"--max-memory", NULL}},
    {{"--max-memory", "K"}, {"--max-memory", NULL}},
    {{"--max-memory", "1KB"}, {"--max-memory", NULL}},
    {{"--max-memory", ""}, {"--max-memory", NULL}},
    {{"--max-memory", "18446744073709551615G"}, {"--max-memory", NULL}},
    {{"--max-memory", "99999999999999999999999"}, {"--max-memory", NULL}},
    /* --watch-debounce */
    {{"--watch-debounce", "60001"}, {"--watch-debounce", "'60001'"}},
    {{"--watch-debounce", "1K"}, {"--watch-debounce", NULL}},
    {{"--watch-debounce", "-1"}, {"--watch-debounce", NULL}},
    {{"--watch-debounce", "soon"}, {"--watch-debounce", NULL}},
    {{"--watch-debounce", ""}, {"--watch-debounce", NULL}},
    {{"--watch=1"}, {"unknown option", NULL}},
    /* --cache-default: no control character but HTAB (it goes into every head) */
    {{"--cache-default", ""}, {"--cache-default", NULL}},
    {{"--cache-default", "max-age=1\r\nX: y"}, {"--cache-default", "control"}},
    {{"--cache-default", "max-age=1\x01"}, {"--cache-default", "control"}},
    {{"--cache-default", "max-age=1\x1b[2J"}, {"--cache-default", "control"}},
    {{"--cache-default", "no-\x7f"
                         "cache"},
     {"--cache-default", "control"}},
    /* --reload needs somewhere to find the server */
    {{"--reload", "--pid-file", ""}, {"--reload", "pid file"}},
    /* --listen (the value is checked after all options) */
    {{"--listen", "8080"}, {"--listen", "'8080'"}},
    {{"--threads", "2", "--listen", "x:1"}, {"--listen", NULL}},
    /* unknown options */
    {{"--bogus"}, {"unknown option", "--bogus"}},
    {{"-x"}, {"unknown option", "-x"}},
    {{"--root", "r", "--nope", "1"}, {"unknown option", "--nope"}},
    {{"--help=1"}, {"unknown option", NULL}},
    /* missing values */
    {{"--root"}, {"needs a value", NULL}},
    {{"-r"}, {"needs a value", "-r"}},
    {{"--listen"}, {"needs a value", NULL}},
    {{"-l"}, {"needs a value", "-l"}},
    {{"--threads"}, {"needs a value", NULL}},
    {{"-t"}, {"needs a value", "-t"}},
    {{"--pid-file"}, {"needs a value", NULL}},
    {{"--max-connections"}, {"needs a value", NULL}},
    {{"--max-memory"}, {"needs a value", NULL}},
    /* stray positional arguments */
    {{"foo"}, {"unexpected argument", "'foo'"}},
    {{"--root", "r", "foo"}, {"unexpected argument", "'foo'"}},
    {{"foo", "--root", "r"}, {"unexpected argument", "'foo'"}},
    {{"--", "foo"}, {"unexpected argument", "'foo'"}},
    {{"--reload", "now"}, {"unexpected argument", "'now'"}},
};

static void test_rejected(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct cachet_config cfg;
		char err[256];
		int rc = parse(&cfg, c->args, err, sizeof(err));
		for (size_t k = 0; k < 2; k++)
			if (rc != -EINVAL || (c->msg[k] && !strstr(err, c->msg[k])))
				print_error("case %zu (%s): rc %d '%s', want '%s'\n", i, c->args[0],
				            rc, err, c->msg[k]);
		assert_int_equal(rc, -EINVAL);
		assert_true(strlen(err) > 0);
		assert_null(strchr(err, '\n')); /* one line */
		for (size_t k = 0; k < 2; k++)
			if (c->msg[k])
				assert_non_null(strstr(err, c->msg[k]));
	}
}

/* A missing value, or a value given to an option that takes none, is reported with the option's
 * name (long-only options included) and in printable characters. */
struct naming_case {
	const char *arg;
	const char *name[2]; /* either must appear (outside the "(try --help)" hint) */
};

static const struct naming_case naming_cases[] = {
    {"--root", {"root", "-r"}},
    {"-r", {"-r", NULL}},
    {"--listen", {"listen", "-l"}},
    {"--threads", {"threads", "-t"}},
    {"--pid-file", {"pid-file", NULL}},
    {"--max-connections", {"max-connections", NULL}},
    {"--max-memory", {"max-memory", NULL}},
    {"--zerocopy-min", {"zerocopy-min", NULL}},
    {"--watch-debounce", {"watch-debounce", NULL}},
    {"--help=1", {"help", "-h"}},
    {"--version=1", {"version", "-V"}},
    {"--reload=1", {"reload", NULL}},
    {"--watch=1", {"watch", NULL}},
};

static void test_option_errors_name_option(void **state)
{
	(void)state;
	unsigned bad = 0;
	for (size_t i = 0; i < sizeof(naming_cases) / sizeof(naming_cases[0]); i++) {
		const struct naming_case *c = &naming_cases[i];
		struct cachet_config cfg;
		char err[256];
		const char *args[] = {c->arg, NULL};
		assert_int_equal(parse(&cfg, args, err, sizeof(err)), -EINVAL);
		char *hint = strstr(err, " (try --help)");
		if (hint)
			*hint = '\0';
		bool named = false, printable = true;
		for (size_t k = 0; k < 2; k++)
			named = named || (c->name[k] && strstr(err, c->name[k]));
		for (const char *p = err; *p; p++)
			printable = printable && (unsigned char)*p >= 0x20 && *p != 0x7f;
		if (!named || !printable) {
			print_error("%s: message does not name the option: '", c->arg);
			for (const char *p = err; *p; p++)
				print_error((unsigned char)*p < 0x20 ? "\\x%02x" : "%c", *p);
			print_error("'\n");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* --zerocopy-min: a byte count with the same suffixes as --max-memory; 0 turns it off. */
static void test_zerocopy_min(void **state)
{
	(void)state;
	static const struct {
		const char *arg;
		size_t want;
	} cases[] = {{"0", 0}, {"1", 1}, {"65536", 65536}, {"64K", 65536}, {"1m", 1u << 20}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cachet_config cfg;
		char err[256];
		const char *args[] = {"--zerocopy-min", cases[i].arg, NULL};
		assert_int_equal(parse(&cfg, args, err, sizeof(err)), 0);
		assert_int_equal(cfg.zerocopy_min, cases[i].want);
	}
}

/* --fallback / --error-page become store keys; --link-preload a flag; all reach the store
 * options. */
static void test_spa_options(void **state)
{
	(void)state;
	struct cachet_config cfg;
	char err[256];
	const char *none[] = {NULL};
	assert_int_equal(parse(&cfg, none, err, sizeof(err)), 0);
	struct cachet_store_options o;
	cachet_config_store_options(&cfg, &o);
	assert_null(o.fallback);
	assert_null(o.error_page);
	assert_false(o.link_preload);
	const char *args[] = {"--fallback",     "index.html",
	                      "--error-page",   "404=/errors/./404.html",
	                      "--link-preload", NULL};
	assert_int_equal(parse(&cfg, args, err, sizeof(err)), 0);
	assert_string_equal(cfg.fallback, "/index.html");
	assert_string_equal(cfg.error_page, "/errors/404.html");
	cachet_config_store_options(&cfg, &o);
	assert_string_equal(o.fallback, "/index.html");
	assert_string_equal(o.error_page, "/errors/404.html");
	assert_true(o.link_preload);
}

/* Issue 13's options: the log, its format, the metrics address (never the content one), replace. */
static void test_ops_options(void **state)
{
	(void)state;
	struct cachet_config cfg;
	char err[256];
	const char *none[] = {NULL};
	assert_int_equal(parse(&cfg, none, err, sizeof(err)), 0);
	assert_null(cfg.access_log);
	assert_null(cfg.metrics_listen);
	assert_false(cfg.replace);
	const char *on[] = {"--access-log", "-",         "--log-format",
	                    "json",         "--metrics", "127.0.0.1:9090",
	                    "--replace",    NULL};
	assert_int_equal(parse(&cfg, on, err, sizeof(err)), 0);
	assert_string_equal(cfg.access_log, "-");
	assert_int_equal(cfg.log_format, CACHET_LOG_JSON);
	assert_true(cfg.replace);
	check_addr(&cfg.metrics_addr, cfg.metrics_addr_len, AF_INET, "127.0.0.1", 9090);
	const char *same[] = {"--listen", "127.0.0.1:8080", "--metrics", "127.0.0.1:8080", NULL};
	assert_int_equal(parse(&cfg, same, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "content address"));
	const char *both0[] = {"--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", NULL};
	assert_int_equal(parse(&cfg, both0, err, sizeof(err)), 0);
	const char *badfmt[] = {"--log-format", "common", NULL};
	assert_int_equal(parse(&cfg, badfmt, err, sizeof(err)), -EINVAL);
	const char *badm[] = {"--metrics", "nowhere", NULL};
	assert_int_equal(parse(&cfg, badm, err, sizeof(err)), -EINVAL);
	const char *nopid[] = {"--replace", "--pid-file", "", NULL};
	assert_int_equal(parse(&cfg, nopid, err, sizeof(err)), -EINVAL);
}

/* --cache-immutable / --cache-revalidate / --cache-default land in cfg.cache, which the policy
 * module reads as is: a revalidate glob beats both the hash rule and an immutable glob. */
static void test_cache_options(void **state)
{
	(void)state;
	struct cachet_config cfg;
	char err[256];
	static const char *const args[] = {
	    "--cache-immutable", "/static/*",          "--cache-revalidate",
	    "/static/old/*",     "--cache-revalidate", "iPhone15Pro.png",
	    "--cache-default",   "max-age=60",         NULL};
	assert_int_equal(parse(&cfg, args, err, sizeof(err)), 0);
	assert_int_equal(cfg.cache.n_globs, 1);
	assert_int_equal(cfg.cache.n_revalidate, 2);
	/* HTAB is the one control character a field value may hold (RFC 9110 §5.5) */
	static const char *const tab[] = {"--cache-default", "max-age=60,\tpublic", NULL};
	assert_int_equal(parse(&cfg, tab, err, sizeof(err)), 0);
	assert_string_equal(cfg.cache.default_value, "max-age=60,\tpublic");
	assert_int_equal(parse(&cfg, args, err, sizeof(err)), 0);
	static const struct {
		const char *path, *want;
	} cases[] = {
	    {"/static/a.js", CACHET_CACHE_POLICY_IMMUTABLE},
	    {"/static/old/a.js", "max-age=60"},
	    {"/static/old/app.5d41402a.js", "max-age=60"},
	    {"/img/iPhone15Pro.png", "max-age=60"},
	    {"/app.5d41402a.js", CACHET_CACHE_POLICY_IMMUTABLE},
	    {"/index.html", "max-age=60"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(
		    cachet_cache_policy_for(&cfg.cache, cases[i].path, strlen(cases[i].path)),
		    cases[i].want);

	/* at most 32, none empty */
	char *many[2 * CACHET_CONFIG_GLOBS_MAX + 4];
	int n = 0;
	many[n++] = (char *)"cachet";
	for (unsigned i = 0; i <= CACHET_CONFIG_GLOBS_MAX; i++) {
		many[n++] = (char *)"--cache-revalidate";
		many[n++] = (char *)"*.png";
	}
	many[n] = NULL;
	assert_int_equal(cachet_config_parse(&cfg, n - 2, many, err, sizeof(err)), 0);
	assert_int_equal(cfg.cache.n_revalidate, CACHET_CONFIG_GLOBS_MAX);
	assert_int_equal(cachet_config_parse(&cfg, n, many, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--cache-revalidate"));
	static const char *const empty[] = {"--cache-revalidate", "", NULL};
	assert_int_equal(parse(&cfg, empty, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--cache-revalidate"));
}

/* --add-header: lines kept in order, value trimmed, reaching the store options; names cachet
 * writes itself, malformed fields, controls (CR/LF injection) and too many bytes refused. */
static void test_add_header(void **state)
{
	(void)state;
	struct cachet_config cfg;
	char err[256];
	static const char *const ok[] = {"--add-header",
	                                 "Access-Control-Allow-Origin: *",
	                                 "--add-header",
	                                 "X-Content-Type-Options:nosniff  ",
	                                 "--add-header",
	                                 "X-Empty:",
	                                 "--add-header",
	                                 "Strict-Transport-Security: \tmax-age=63072000; preload",
	                                 NULL};
	assert_int_equal(parse(&cfg, ok, err, sizeof(err)), 0);
	assert_string_equal(cfg.headers,
	                    "Access-Control-Allow-Origin: *\r\n"
	                    "X-Content-Type-Options: nosniff\r\n"
	                    "X-Empty: \r\n"
	                    "Strict-Transport-Security: max-age=63072000; preload\r\n");
	assert_int_equal(cfg.headers_len, strlen(cfg.headers));
	struct cachet_store_options opt;
	cachet_config_store_options(&cfg, &opt);
	assert_ptr_equal(opt.extra_headers, cfg.headers);

	static const struct {
		const char *arg, *msg;
	} bad[] = {
	    {"Content-Type: text/html", "sets Content-Type itself"},
	    {"cache-control: no-store", "--cache-default"},
	    {"ETag: x", "itself"},
	    {"Transfer-Encoding: chunked", "itself"},
	    {"Connection: close", "itself"},
	    {"NoColon", "Name: value"},
	    {": value", "Name: value"},
	    {"Bad Name: x", "Name: value"},
	    {"X-A\t: x", "Name: value"},
	    {"X-A: a\r\nSet-Cookie: x=1", "control character"},
	    {"X-A: a\nb", "control character"},
	    {"X-A: a\x7f", "control character"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[] = {"--add-header", bad[i].arg, NULL};
		assert_int_equal(parse(&cfg, args, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].msg))
			print_error("'%s': message '%s'\n", bad[i].arg, err);
		assert_non_null(strstr(err, bad[i].msg));
		assert_null(strchr(err, '\n'));
	}

	/* The total is bounded: 1024 bytes of fields fit, one more byte does not. */
	static char big[CACHET_CONFIG_HEADERS_MAX];
	memcpy(big, "X-Big: ", 7);
	memset(big + 7, 'v', CACHET_CONFIG_HEADERS_MAX - 7 - 2); /* + CRLF = the limit */
	big[CACHET_CONFIG_HEADERS_MAX - 2] = '\0';
	const char *fits[] = {"--add-header", big, NULL};
	assert_int_equal(parse(&cfg, fits, err, sizeof(err)), 0);
	assert_int_equal(cfg.headers_len, CACHET_CONFIG_HEADERS_MAX);
	const char *over[] = {"--add-header", big, "--add-header", "X: y", NULL};
	assert_int_equal(parse(&cfg, over, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1024"));
}

/* Several parses in one process: getopt state is reset each time. */
static void test_reparse(void **state)
{
	(void)state;
	struct cachet_config cfg;
	char err[256];
	static const char *const a[] = {"--threads", "7", NULL};
	static const char *const b[] = {"--bogus", NULL};
	static const char *const none[] = {NULL};
	for (int round = 0; round < 3; round++) {
		assert_int_equal(parse(&cfg, a, err, sizeof(err)), 0);
		assert_int_equal(cfg.threads, 7);
		assert_int_equal(parse(&cfg, b, err, sizeof(err)), -EINVAL);
		assert_int_equal(parse(&cfg, none, err, sizeof(err)), 0);
		assert_int_equal(cfg.threads, 0);
	}
}

static void test_usage(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	cachet_config_usage(f);
	assert_int_equal(fclose(f), 0);
	assert_true(len > 0);
	static const char *const want[] = {
	    "usage: cachet",  "--root",     "--listen",
	    "--threads",      "--pid-file", "--max-connections",
	    "--max-memory",   "--reload",   "/run/cachet.pid",
	    "--help",         "--version",  CACHET_DEFAULT_LISTEN,
	    "--zerocopy-min",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_non_null(strstr(text, want[i]));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_accepted),
	    cmocka_unit_test(test_listen),
	    cmocka_unit_test(test_rejected),
	    cmocka_unit_test(test_option_errors_name_option),
	    cmocka_unit_test(test_zerocopy_min),
	    cmocka_unit_test(test_ops_options),
	    cmocka_unit_test(test_cache_options),
	    cmocka_unit_test(test_spa_options),
	    cmocka_unit_test(test_add_header),
	    cmocka_unit_test(test_reparse),
	    cmocka_unit_test(test_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
