/* main.c - process set-up: options, the first generation, listeners, worker threads, signals,
 * pid file, graceful stop. The main thread only ever waits for signals. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cachet/config.h"
#include "cachet/reload.h"
#include "cachet/service.h"
#include "cachet/store.h"
#include "cachet/watch.h"
#include "cachet/worker.h"

#define LISTEN_BACKLOG 4096

/* jemalloc reads this before its first allocation. A background thread purges freed pages as
 * they age (over 10 s, jemalloc's default decay), idle or not, instead of leaving them dirty in
 * the arenas until the next allocation: without it RSS grew by a generation's size per reload
 * and never came down (issue 15). A shorter decay (1 s) made compression twice as slow: the
 * encoders' large work areas, freed after each file, were purged and faulted in again. Ignored
 * under sanitizers, which bring their own allocator. */
const char *malloc_conf = "background_thread:true,dirty_decay_ms:10000,muzzy_decay_ms:0";

struct server {
	struct cachet_config cfg;
	struct cachet_shared shared;
	struct cachet_worker *workers;
	unsigned n_workers;
	int cpus[CPU_SETSIZE];
	unsigned n_cpus;
	sem_t started;
	struct cachet_reloader reloader;
	struct cachet_watch watch;
	struct cachet_service service; /* log, metrics, systemd, --replace */
};

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One clear line on stderr and exit status 2: a server that cannot start never half-starts. */
static int die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("cachet: ", stderr);
	vfprintf(stderr, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized): as in store.c
	fputc('\n', stderr);
	va_end(ap);
	return 2;
}

static void cpus_discover(struct server *s)
{
	cpu_set_t set;
	s->n_cpus = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &set))
				s->cpus[s->n_cpus++] = i;
}

static int socket_bound(const struct cachet_config *cfg, const struct sockaddr *addr,
                        bool reuseport)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* accepted sockets inherit TCP_NODELAY: a pipelined response must not wait for an ACK */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	if (bind(fd, addr, cfg->addr_len) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* One SO_REUSEPORT listener per worker. For an explicit port, a plain bind first proves the port
 * is free: reuseport sockets of the same user would otherwise silently share it with another
 * cachet. For port 0, the first listener binds port 0 itself (the kernel never hands out a port in
 * use) and the others join the port it got; a probe there would leave a window in which another
 * process could be given the same port. */
static int listeners_open(struct server *s)
{
	union cachet_sockaddr addr = s->cfg.addr;
	socklen_t len = s->cfg.addr_len;
	if (s->service.n_inherited) /* systemd's sockets, given to the workers by service_attach */
		return getsockname(s->workers[0].listen_fd, &s->cfg.addr.sa, &s->cfg.addr_len) < 0
		           ? -errno
		           : 0;
	/* --replace: the running server holds the port; join its SO_REUSEPORT group instead */
	if (cachet_sockaddr_port(&addr) != 0 && !cachet_service_replacing(&s->service)) {
		int probe = socket_bound(&s->cfg, &addr.sa, false);
		if (probe < 0)
			return probe;
		close(probe);
	}
	for (unsigned i = 0; i < s->n_workers; i++) {
		int fd = socket_bound(&s->cfg, &addr.sa, true);
		if (fd < 0)
			return fd;
		s->workers[i].listen_fd = fd;
		if (listen(fd, LISTEN_BACKLOG) < 0)
			return -errno;
		if (i == 0 && getsockname(fd, &addr.sa, &len) < 0)
			return -errno;
	}
	s->cfg.addr = addr;
	return 0;
}

static void addr_format(const union cachet_sockaddr *a, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN];
	if (a->sa.sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = &a->in6;
		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, ntohs(a6->sin6_port));
	} else {
		const struct sockaddr_in *a4 = &a->in;
		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, ntohs(a4->sin_port));
	}
}

/* Raises the soft descriptor limit to fit --max-connections, up to the hard limit. If even that is
 * too low, connections are capped to what fits (with a warning when the cap was asked for). */
static void connections_fit(struct server *s)
{
	struct cachet_config *cfg = &s->cfg;
	const size_t reserve = 64 + 8 * (size_t)s->n_workers; /* listeners, rings, files, logs */
	size_t want = cfg->max_connections + reserve;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur >= want)
		return;
	size_t fit = rl.rlim_cur > reserve + s->n_workers ? rl.rlim_cur - reserve : s->n_workers;
	if (cfg->max_connections_set)
		fprintf(stderr, "cachet: descriptor limit %llu allows %zu connections, not %zu\n",
		        (unsigned long long)rl.rlim_cur, fit, cfg->max_connections);
	cfg->max_connections = fit;
}

/* After binding and loading: as root with --user, become that user for good (every thread, the
 * reloader's rescans included); as root without it, say so once. Returns 0 or -errno. */
static int privileges_drop(const char *user)
{
	if (geteuid() != 0) {
		if (user)
			fprintf(stderr, "cachet: not root, --user %s ignored\n", user);
		return 0;
	}
	if (!user) {
		fprintf(stderr, "cachet: warning: running as root; use --user NAME to drop "
		                "privileges after binding\n");
		return 0;
	}
	const struct passwd *pw = getpwnam(user);
	if (!pw)
		return -ENOENT;
	gid_t gid = pw->pw_gid;
	uid_t uid = pw->pw_uid;
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		return -errno;
	/* checked: all ids changed, and root cannot be regained */
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
	    (uid != 0 && setuid(0) == 0))
		return -EPERM;
	return 0;
}

static void workers_stop(struct server *s, unsigned started)
{
	atomic_store(&s->shared.stopping, true);
	for (unsigned i = 0; i < started; i++)
		cachet_worker_wake(&s->workers[i]);
	for (unsigned i = 0; i < started; i++)
		cachet_worker_join(&s->workers[i]); /* joins, then closes its wake eventfd */
}

/* Starts every worker and waits until each has its ring; any failure stops them all. */
static int workers_start(struct server *s)
{
	unsigned started = 0;
	int rc = 0;
	for (unsigned i = 0; i < s->n_workers && rc == 0; i++) {
		struct cachet_worker *w = &s->workers[i];
		w->id = i;
		w->cpu = s->n_cpus ? s->cpus[i % s->n_cpus] : -1;
		w->shared = &s->shared;
		w->started = &s->started;
		rc = cachet_worker_start(w);
		if (rc == 0) {
			started++;
			while (sem_wait(&s->started) < 0 && errno == EINTR)
				;
			rc = w->start_rc;
		}
	}
	if (rc < 0)
		workers_stop(s, started);
	return rc;
}

/* Removes the pid file only if it is still ours: another cachet may have started since. */
static void pid_file_remove(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char text[32];
	if (fd < 0)
		return;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	if (n > 0 && strtol(text, NULL, 10) == (long)getpid())
		unlink(path);
}

/* Through cachet_reload_file_write: never through a symlink planted at the name. */
static void pid_file_write(const char *path)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	int rc = cachet_reload_file_write(path, text, (size_t)n);
	if (rc < 0)
		fprintf(stderr, "cachet: cannot write pid file %s: %s\n", path, strerror(-rc));
}

/* Waits for signals until asked to stop. SIGHUP rescans ROOT. */
static void signals_wait(struct server *s, const sigset_t *set, siginfo_t *stop)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si);
		*stop = si;
		if (sig == SIGHUP) /* from `cachet --reload` or a plain kill: rescan */
			cachet_reloader_request(&s->reloader);
		else if (sig == SIGTERM || sig == SIGINT)
			return;
		else
			cachet_service_signal(&s->service, sig); /* SIGUSR1: reopen the log */
	}
}

static int serve(struct server *s)
{
	struct cachet_config *cfg = &s->cfg;
	cpus_discover(s);
	s->n_workers = cfg->threads ? cfg->threads : (s->n_cpus ? s->n_cpus : 1);
	s->workers = calloc(s->n_workers, sizeof(*s->workers));
	if (!s->workers)
		return die("out of memory");

	s->shared.header_timeout_s = cfg->header_timeout_s;
	s->shared.keepalive_timeout_s = cfg->keepalive_timeout_s;
	s->shared.send_timeout_s = cfg->send_timeout_s;
	s->shared.zerocopy_min = cfg->zerocopy_min;
	s->shared.http2 = !cfg->no_http2;
	if (cfg->zerocopy_min && !cachet_worker_zerocopy_supported()) {
		fprintf(stderr, "cachet: warning: --zerocopy-min: this kernel's io_uring has no "
		                "zero-copy send; sending with copies\n");
		s->shared.zerocopy_min = 0;
	}

	char err[512];
	if (cachet_service_open(&s->service, cfg, s->n_workers, err, sizeof(err)) < 0 ||
	    cachet_service_attach(&s->service, s->workers, s->n_workers) < 0)
		return die("%s", err[0] ? err : "cannot use the sockets systemd passed");
	struct cachet_store *st;
	struct cachet_store_options opt;
	cachet_config_store_options(cfg, &opt);
	opt.generation = 1;
	/* serve first, compress after: the first generation is identity only (with Vary where
	 * variants will come); the reload thread compresses on every CPU and publishes them */
	opt.defer_variants = true;
	if (cachet_store_build(cfg->root, NULL, &opt, &st, err, sizeof(err)) < 0)
		return die("%s", err);
	/* read now: once the reloader runs, st may be replaced and freed at any time */
	size_t files = st->files, bytes = st->bytes, pending = st->pending;
	atomic_store(&s->shared.current, st);

	int rc = listeners_open(s);
	char where[INET6_ADDRSTRLEN + 16];
	if (rc < 0)
		return die("cannot listen on %s: %s", cfg->listen, strerror(-rc));
	addr_format(&cfg->addr, where, sizeof(where));
	connections_fit(s);
	s->shared.max_conns_per_worker = (cfg->max_connections + s->n_workers - 1) / s->n_workers;
	if ((rc = privileges_drop(cfg->user)) < 0)
		return die("--user %s: cannot drop privileges: %s", cfg->user, strerror(-rc));

	/* Workers and the reload thread inherit this mask: only the main thread takes signals. */
	sigset_t all, waited;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	sigemptyset(&waited);
	sigaddset(&waited, SIGHUP);
	sigaddset(&waited, SIGTERM);
	sigaddset(&waited, SIGINT);
	sigaddset(&waited, SIGUSR1);

	sem_init(&s->started, 0, 0);
	if ((rc = workers_start(s)) < 0)
		return die("cannot start workers: %s", strerror(-rc));
	s->reloader.metrics = &s->service.metrics;
	rc = cachet_reloader_start(&s->reloader, cfg, &s->shared, s->workers, s->n_workers);
	if (rc < 0) {
		workers_stop(s, s->n_workers);
		return die("cannot start the reload thread: %s", strerror(-rc));
	}
	if (cfg->watch && (rc = cachet_watch_start(&s->watch, cfg->root, cfg->watch_debounce_ms,
	                                           &s->reloader)) < 0) {
		cachet_reloader_stop(&s->reloader);
		workers_stop(s, s->n_workers);
		return die("--watch: cannot watch %s: %s", cfg->root, strerror(-rc));
	}
	if (cfg->pid_file)
		pid_file_write(cfg->pid_file);
	if (pending) /* before the listening line: whoever waits for variants knows to */
		fprintf(stderr, "cachet: variants of %zu files follow in the background\n",
		        pending);
	fprintf(stderr, "cachet: listening on %s (%u threads, %zu files, %zu bytes)\n", where,
	        s->n_workers, files, bytes);
	if (cachet_service_start(&s->service, where, files, bytes, err, sizeof(err)) < 0)
		fprintf(stderr, "cachet: %s\n", err);

	siginfo_t stop;
	signals_wait(s, &waited, &stop);
	fprintf(stderr, "cachet: stopping\n");
	cachet_service_drain(&s->service, &stop, s->workers[0].listen_fd);
	if (cfg->watch)
		cachet_watch_stop(&s->watch);
	cachet_reloader_stop(&s->reloader);
	workers_stop(s, s->n_workers);
	cachet_reloader_release(&s->reloader);
	cachet_service_close(&s->service);
	cachet_store_unref(atomic_load(&s->shared.current));
	if (cfg->pid_file)
		pid_file_remove(cfg->pid_file);
	free(s->workers);
	return 0;
}

int main(int argc, char **argv)
{
	static struct server s; /* owned by the main thread; workers see only what they are given */
	static char pid_file[PATH_MAX];
	char err[512];
	if (cachet_config_parse(&s.cfg, argc, argv, err, sizeof(err)) < 0)
		return die("%s", err);
	if (!s.cfg.pid_file_set) {
		cachet_reload_default_pid_file(pid_file, sizeof(pid_file));
		s.cfg.pid_file = pid_file;
	}
	switch (s.cfg.mode) {
	case CACHET_MODE_HELP:
		cachet_config_usage(stdout);
		return 0;
	case CACHET_MODE_VERSION:
		printf("cachet %s\n", CACHET_VERSION);
		return 0;
	case CACHET_MODE_RELOAD:
		return cachet_reload_client(s.cfg.pid_file);
	case CACHET_MODE_SERVE:
		break;
	}
	return serve(&s);
}
