/* service.c - the access log and metrics threads, systemd notifications and sockets, --replace. */
#define _GNU_SOURCE
#include "cachet/service.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* How long a replaced server keeps accepting after steering new connections away: what is
 * already in its accept queues is taken and answered instead of being reset by the close. */
#define STEER_DRAIN_NS 200000000L

static uint64_t log_dropped(const void *arg)
{
	return cachet_accesslog_dropped(arg);
}

pid_t cachet_service_running_pid(const char *pid_file)
{
	FILE *f = pid_file ? fopen(pid_file, "r") : NULL;
	long pid = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 1 || pid == (long)getpid())
		pid = 0;
	fclose(f);
	if (pid && kill((pid_t)pid, 0) < 0)
		pid = 0; /* stale, or another user's: not ours to replace */
	return (pid_t)pid;
}

int cachet_service_open(struct cachet_service *sv, const struct cachet_config *cfg,
                        unsigned n_workers, char *err, size_t errlen)
{
	memset(sv, 0, sizeof(*sv));
	sv->cfg = cfg;
	sv->n_workers = n_workers;
	sv->log.fd = -1;
	int rc = cachet_metrics_init(&sv->metrics, n_workers);
	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	if (cfg->access_log) {
		rc = cachet_accesslog_open(&sv->log, cfg->access_log, cfg->log_format, n_workers);
		if (rc < 0) {
			snprintf(err, errlen, "--access-log: cannot open %s: %s", cfg->access_log,
			         strerror(-rc));
			return rc;
		}
		sv->log_on = true;
		sv->metrics.log_dropped = log_dropped;
		sv->metrics.log_dropped_arg = &sv->log;
	}
	if (cfg->metrics_listen) {
		rc = cachet_metrics_listen(&sv->metrics, &cfg->metrics_addr.sa,
		                           cfg->metrics_addr_len);
		if (rc < 0) {
			snprintf(err, errlen, "--metrics: cannot listen on %s: %s",
			         cfg->metrics_listen, strerror(-rc));
			return rc;
		}
	}
	rc = cachet_notify_listen_fds(sv->inherited, CACHET_NOTIFY_FDS_MAX);
	if (rc < 0) {
		snprintf(err, errlen,
		         "systemd passed sockets cachet cannot use (LISTEN_FDS: "
		         "listening TCP sockets only, at most %d)",
		         CACHET_NOTIFY_FDS_MAX);
		return rc;
	}
	sv->n_inherited = (unsigned)rc;
	if (cfg->replace)
		sv->replaced = cachet_service_running_pid(cfg->pid_file);
	return 0;
}

bool cachet_service_replacing(const struct cachet_service *sv)
{
	return sv->replaced != 0;
}

int cachet_service_attach(struct cachet_service *sv, struct cachet_worker *workers, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		workers[i].obs.metrics = &sv->metrics.workers[i];
		workers[i].obs.log = sv->log_on ? &sv->log.workers[i] : NULL;
		if (!sv->n_inherited)
			continue;
		/* each worker owns (and closes) its own descriptor of the shared socket */
		int fd = fcntl(sv->inherited[i % sv->n_inherited], F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return -errno;
		/* as for cachet's own listeners: accepted sockets inherit it (pipelined answers
		 * must not wait for an ACK) */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		workers[i].listen_fd = fd;
		workers[i].listen_shared = true;
	}
	return 0;
}

int cachet_service_start(struct cachet_service *sv, const char *where, uint64_t files,
                         uint64_t bytes, char *err, size_t errlen)
{
	int rc;
	cachet_metrics_store(&sv->metrics, 1, files, bytes);
	if (sv->log_on && (rc = cachet_accesslog_start(&sv->log)) < 0) {
		snprintf(err, errlen, "cannot start the access-log writer: %s", strerror(-rc));
		return rc;
	}
	if (sv->metrics.listen_fd >= 0 && (rc = cachet_metrics_start(&sv->metrics)) < 0) {
		snprintf(err, errlen, "cannot start the metrics listener: %s", strerror(-rc));
		return rc;
	}
	/* Serving now (the workers accept, the pid file names this process): the old server may
	 * drain. Its listeners leave the port's SO_REUSEPORT group; ours keep it. */
	if (sv->replaced) {
		/* the value tells it how many listeners we added to the port's group (steer) */
		if (sigqueue(sv->replaced, SIGTERM,
		             (union sigval){.sival_int = (int)sv->n_workers}) < 0)
			fprintf(stderr, "cachet: --replace: cannot signal pid %ld: %s\n",
			        (long)sv->replaced, strerror(errno));
		else
			fprintf(stderr, "cachet: replacing pid %ld: told it to drain\n",
			        (long)sv->replaced);
	}
	char status[256];
	snprintf(status, sizeof(status), "serving %llu files (%llu bytes) on %s",
	         (unsigned long long)files, (unsigned long long)bytes, where);
	cachet_notify_ready(status);
	return 0;
}

void cachet_service_signal(struct cachet_service *sv, int sig)
{
	if (sig == SIGUSR1 && sv->log_on)
		cachet_accesslog_reopen(&sv->log);
}

/*
 * Replaced by a server that joined the port's SO_REUSEPORT group after us: its n_new listeners
 * sit after our n_own ones in the group (the kernel appends, and our predecessor's were gone when
 * it bound). A classic BPF program on the group sends every new connection to one of them, chosen
 * at random; then ours are left to empty their accept queues before the workers close them.
 * Without this, what the kernel queued on our listeners at the close is reset (unless
 * net.ipv4.tcp_migrate_req=1 moves it). The program outlives us harmlessly: an index past the
 * group's end falls back to the kernel's hash. Returns 0 or -errno.
 */
static int steer_away(int listen_fd, unsigned n_own, unsigned n_new)
{
	struct sock_filter code[] = {
	    {BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM)},
	    {BPF_ALU | BPF_MOD | BPF_K, 0, 0, n_new},
	    {BPF_ALU | BPF_ADD | BPF_K, 0, 0, n_own},
	    {BPF_RET | BPF_A, 0, 0, 0},
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
	if (setsockopt(listen_fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

void cachet_service_drain(struct cachet_service *sv, const siginfo_t *si, int listen_fd)
{
	atomic_store(&sv->metrics.draining, true);
	cachet_notify_stopping("draining: finishing the answers in flight");
	int n_new = si && si->si_code == SI_QUEUE ? si->si_value.sival_int : 0;
	if (n_new <= 0 || n_new > 4096 || sv->n_inherited || listen_fd < 0)
		return;
	int rc = steer_away(listen_fd, sv->n_workers, (unsigned)n_new);
	if (rc < 0) {
		fprintf(stderr, "cachet: drain: cannot steer new connections away: %s\n",
		        strerror(-rc));
		return;
	}
	struct timespec t = {.tv_nsec = STEER_DRAIN_NS};
	nanosleep(&t, NULL);
}

void cachet_service_close(struct cachet_service *sv)
{
	if (sv->log_on) {
		cachet_accesslog_stop(&sv->log); /* writes what the workers handed over on exit */
		cachet_accesslog_close(&sv->log);
		sv->log_on = false;
	}
	cachet_metrics_stop(&sv->metrics);
	cachet_metrics_free(&sv->metrics);
	for (unsigned i = 0; i < sv->n_inherited; i++)
		close(sv->inherited[i]);
	sv->n_inherited = 0;
}
