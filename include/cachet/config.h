/* config.h - the command line: defaults, parsing, validation with clear messages. */
#ifndef CACHET_CONFIG_H
#define CACHET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "cachet/accesslog.h"
#include "cachet/cache_policy.h"
#include "cachet/encoding.h"
#include "cachet/path.h"
#include "cachet/sockaddr.h"

#define CACHET_VERSION "0.1.0"

#define CACHET_DEFAULT_LISTEN   "127.0.0.1:8080"
#define CACHET_CONFIG_GLOBS_MAX 32
/** Most bytes all --add-header lines may take together: they are copied into every block. */
#define CACHET_CONFIG_HEADERS_MAX 1024

enum cachet_mode {
	CACHET_MODE_SERVE,
	CACHET_MODE_RELOAD, /* --reload: signal a running server and report its rescan */
	CACHET_MODE_HELP,
	CACHET_MODE_VERSION,
};

struct cachet_config {
	enum cachet_mode mode;
	const char *root;
	const char *listen; /* as given, for messages */
	union cachet_sockaddr addr;
	socklen_t addr_len;
	unsigned threads;     /* 0 until resolved: one per CPU of the affinity set */
	const char *pid_file; /* as given; NULL when not given, or after --pid-file '' */
	bool pid_file_set;    /* --pid-file given; else main picks cachet_reload_default_pid_file */
	size_t max_connections;
	bool max_connections_set; /* given explicitly: warn if the descriptor limit cuts it */
	size_t max_memory;        /* content bytes per generation; 0 = no limit */
	size_t zerocopy_min; /* --zerocopy-min: bodies this large are sent zero-copy; 0 = off */
	bool watch;          /* --watch: rescan on inotify events */
	bool replace;        /* --replace: take over from the server named by the pid file */
	bool link_preload;   /* --link-preload */
	bool no_http2;       /* --no-http2: the preface is not HTTP/2 (505 as HTTP/1.1) */
	unsigned header_timeout_s;
	unsigned keepalive_timeout_s;
	unsigned send_timeout_s;
	const char *user; /* --user: drop to this account after binding and loading */
	enum cachet_coding codings[CACHET_CODING_COUNT]; /* --compress, in preference order */
	unsigned n_codings;
	const char *cache_globs[CACHET_CONFIG_GLOBS_MAX];      /* --cache-immutable */
	const char *revalidate_globs[CACHET_CONFIG_GLOBS_MAX]; /* --cache-revalidate */
	struct cachet_cache_policy cache;                      /* points into the fields above */
	unsigned watch_debounce_ms;
	char headers[CACHET_CONFIG_HEADERS_MAX + 1]; /* --add-header: "Name: value\r\n" each */
	size_t headers_len;
	const char *access_log;     /* --access-log FILE ("-": standard output); NULL: off */
	const char *metrics_listen; /* --metrics HOST:PORT as given; NULL: off */
	union cachet_sockaddr metrics_addr;
	socklen_t metrics_addr_len;
	enum cachet_log_format log_format; /* --log-format */
	/* single-page apps (issue 12): store keys ("/index.html"), "" when not given */
	char fallback[CACHET_PATH_MAX];   /* --fallback PATH */
	char error_page[CACHET_PATH_MAX]; /* --error-page 404=PATH */
};

/**
 * Parses argv into cfg (defaults first). Returns 0, or -EINVAL with a one-line message in err
 * (the caller prints it and exits 2). Does not touch the file system or the network.
 */
int cachet_config_parse(struct cachet_config *cfg, int argc, char **argv, char *err, size_t errlen);

/** Parses "HOST:PORT" or "[V6]:PORT" (numeric host, or "localhost") into addr. 0 or -EINVAL. */
int cachet_config_parse_listen(const char *s, union cachet_sockaddr *addr, socklen_t *len);

struct cachet_store_options;

/** Fills opt with the store-build options the configuration asks for (generation left 0). */
void cachet_config_store_options(const struct cachet_config *cfg, struct cachet_store_options *opt);

/** Writes the usage text to f. */
void cachet_config_usage(FILE *f);

#endif
