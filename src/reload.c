/* reload.c - background rescans and safe reclamation of old generations.
 *
 * Publication and reclamation (the rule every worker relies on):
 *  1. The reloader builds generation G+1 completely, off to the side.
 *  2. It publishes it with one atomic store into shared->current. The reloader still holds its
 *     reference on G (the "publisher's reference"), so a worker that loaded the old pointer just
 *     before the store can still take a reference on G safely.
 *  3. It wakes every worker and waits until each one's gen_seen shows G+1. A worker stores
 *     gen_seen only after it has taken its reference on the generation it loaded, and it loads
 *     shared->current once per loop turn: once all have acknowledged G+1, no worker will ever load
 *     G again.
 *  4. Only then does the reloader drop the publisher's reference on G. G is freed when the last
 *     worker drops its own reference, which a worker does once no in-flight send points into G
 *     (see gen_unpin in worker.c).
 */
#define _GNU_SOURCE
#include "cachet/reload.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachet/clock.h"
#include "cachet/notify.h"
#include "cachet/store.h"

#define ACK_POLL_NS    1000000L /* 1 ms between looks at the workers' acknowledgements */
#define ACK_WAIT_MS    10000    /* then the old generation is held back and the reload goes on */
#define CLIENT_POLL_NS 20000000L
#define CLIENT_WAIT_S  120

static int64_t mono_ms(void)
{
	return cachet_clock_mono_ns() / 1000000;
}

static void sleep_ns(long ns)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
	nanosleep(&ts, NULL);
}

void cachet_reload_status_path(const char *pid_file, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s.status", pid_file);
}

struct outcome {
	bool ok;
	uint64_t generation;
	size_t files, bytes, added, changed, removed;
	size_t identical, reread; /* rewritten with the same bytes; files opened and read */
	int64_t variants_ms;      /* until the changed files' variants were published; -1: none */
	int64_t ms;
	int64_t started_ns; /* CLOCK_MONOTONIC (system-wide) when the rescan began */
	char error[512];
};

int cachet_reload_file_write(const char *path, const char *text, size_t len)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	/* mkostemp creates with O_CREAT|O_EXCL under a name nobody could plant in advance, so
	 * nothing is ever written through a symlink; rename() replaces a link at path itself,
	 * never its target. */
	int fd = mkostemp(tmp, O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (fchmod(fd, 0644) < 0) /* readable by a --reload of another user, as before */
		rc = -errno;
	else if (write(fd, text, len) != (ssize_t)len)
		rc = -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

void cachet_reload_default_pid_file(char *out, size_t outlen)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (access("/run", W_OK) == 0)
		snprintf(out, outlen, "/run/cachet.pid");
	else if (xdg && xdg[0] == '/')
		snprintf(out, outlen, "%s/cachet.pid", xdg);
	else
		snprintf(out, outlen, "/tmp/cachet.pid");
}

/* Written atomically (temporary file + rename) so a --reload client never reads half of it. */
static void status_write(struct cachet_reloader *r, const struct outcome *o)
{
	if (!r->status_path[0])
		return;
	char text[1024];
	int n = snprintf(text, sizeof(text),
	                 "rescans=%llu\nok=%d\ngeneration=%llu\nfiles=%zu\nbytes=%zu\nadded=%zu\n"
	                 "changed=%zu\nremoved=%zu\nidentical=%zu\nreread=%zu\nms=%lld\n"
	                 "variants_ms=%lld\nstarted_ns=%lld\npid=%ld\nerror=%s\n",
	                 (unsigned long long)r->rescans, o->ok, (unsigned long long)o->generation,
	                 o->files, o->bytes, o->added, o->changed, o->removed, o->identical,
	                 o->reread, (long long)o->ms, (long long)o->variants_ms,
	                 (long long)o->started_ns, (long)getpid(), o->error);
	if (n > 0)
		cachet_reload_file_write(r->status_path, text,
		                         (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

/* Removes the status file at exit only if this process wrote it: after a --replace, the new
 * server writes the same name while the old one drains, and its reports must stay. */
static void status_remove_if_ours(const char *path)
{
	char text[1024];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	const char *p = strstr(text, "\npid=");
	if (p && strtol(p + 5, NULL, 10) == (long)getpid())
		unlink(path);
}

/* Tells the metrics and systemd how a rescan went (READY=1 ends the RELOADING=1 of its start). */
static void outcome_publish(struct cachet_reloader *r, const struct outcome *o)
{
	char status[600];
	if (r->metrics) {
		cachet_metrics_reload(r->metrics, o->ok, o->ms * 1000000);
		if (o->ok)
			cachet_metrics_store(r->metrics, o->generation, o->files, o->bytes);
	}
	if (o->ok)
		snprintf(status, sizeof(status), "serving generation %llu: %zu files, %zu bytes",
		         (unsigned long long)o->generation, o->files, o->bytes);
	else
		snprintf(status, sizeof(status), "reload failed: %s; generation %llu keeps serving",
		         o->error, (unsigned long long)o->generation);
	cachet_notify_ready(status);
}

/* Counts what changed between two generations, for the log line. */
static void diff_count(const struct cachet_store *old, const struct cachet_store *new,
                       struct outcome *o)
{
	for (size_t i = 0; i < new->n_entries; i++) {
		const struct cachet_entry *e = &new->entries[i];
		if (e->kind != CACHET_ENTRY_FILE)
			continue;
		const struct cachet_entry *p = cachet_store_lookup(old, e->path, e->path_len);
		if (!p || p->kind != CACHET_ENTRY_FILE)
			o->added++;
		else if (p->blob != e->blob)
			o->changed++;
	}
	o->removed = old->files - (new->files - o->added);
}

/* Waits until every running worker serves generation gen (step 3 above). Returns the index of
 * a worker that has not acknowledged it after ACK_WAIT_MS, or when a stop was asked for (so a
 * stuck worker cannot hold up SIGTERM), else -1. */
static int acks_wait(struct cachet_reloader *r, uint64_t gen)
{
	int64_t deadline = mono_ms() + ACK_WAIT_MS;
	for (unsigned i = 0; i < r->n_workers; i++)
		cachet_worker_wake(&r->workers[i]);
	for (unsigned i = 0, polls = 0; i < r->n_workers; polls++) {
		struct cachet_worker *w = &r->workers[i];
		if (atomic_load_explicit(&w->gen_seen, memory_order_acquire) == gen ||
		    atomic_load(&w->exited)) {
			i++;
			continue;
		}
		if (atomic_load(&r->quit) || mono_ms() > deadline)
			return (int)i;
		if (polls % 100 == 99)
			cachet_worker_wake(w); /* it may be holding back, busy with old sends */
		sleep_ns(ACK_POLL_NS);
	}
	return -1;
}

/* Drops the publisher's reference on old (step 4), or, when a worker has not acknowledged the
 * newer generation yet, keeps it: that worker may still load old. Once every worker has
 * acknowledged a later generation, none can load any older one, and all held ones go. */
static void old_release(struct cachet_reloader *r, struct cachet_store *old, int unacked,
                        uint64_t gen)
{
	if (unacked < 0) {
		cachet_store_unref(old);
		for (unsigned i = 0; i < r->n_held; i++)
			cachet_store_unref(r->held[i]);
		r->n_held = 0;
		return;
	}
	if (!atomic_load(&r->quit))
		fprintf(stderr,
		        "cachet: reload: worker %d has not taken generation %llu after %d ms; the "
		        "previous one stays in memory until it does\n",
		        unacked, (unsigned long long)gen, ACK_WAIT_MS);
	if (r->n_held < CACHET_RELOAD_HELD_MAX)
		r->held[r->n_held++] = old;
	/* else: never freed, the safe choice while a worker is stuck this long */
}

/* Steps 2-4 above: new replaces the current generation, which is released once every worker
 * has moved on. */
static void publish(struct cachet_reloader *r, struct cachet_store *new)
{
	struct cachet_store *old = atomic_load_explicit(&r->shared->current, memory_order_acquire);
	atomic_store_explicit(&r->shared->current, new, memory_order_release);
	old_release(r, old, acks_wait(r, new->generation), new->generation);
	r->generation = new->generation;
}

/* Serve first, compress after: the current generation serves identity (its blocks already say
 * Vary where variants will come); this compresses what it lacks on threads threads and publishes
 * the same files with their variants as the next generation. Identity ETags do not change, so
 * every validator a client holds stays good across the switch. */
static void variants_complete(struct cachet_reloader *r, unsigned threads)
{
	int64_t t0 = mono_ms();
	struct cachet_store *cur = atomic_load_explicit(&r->shared->current, memory_order_acquire);
	struct cachet_store *next = NULL;
	int n = cachet_store_compress(cur, threads, &r->quit);
	int rc = n < 0 ? n : cachet_store_derive(cur, r->generation + 1, &next);
	if (rc < 0) {
		if (rc != -ECANCELED)
			fprintf(stderr,
			        "cachet: variants of generation %llu not made: %s (served without "
			        "them)\n",
			        (unsigned long long)r->version, strerror(-rc));
		return;
	}
	publish(r, next);
	fprintf(stderr,
	        "cachet: variants complete: generation %llu, %d files compressed on %u threads in "
	        "%lld ms\n",
	        (unsigned long long)r->version, n, threads, (long long)(mono_ms() - t0));
}

static void rescan(struct cachet_reloader *r)
{
	cachet_notify_reloading();
	int64_t t0 = mono_ms(), started_ns = cachet_clock_mono_ns();
	struct cachet_store *old = atomic_load_explicit(&r->shared->current, memory_order_acquire);
	struct cachet_store *new = NULL;
	struct cachet_store_options opt;
	cachet_config_store_options(r->cfg, &opt);
	opt.generation = r->generation + 1;
	opt.defer_variants = true; /* changed files are live at once; their variants follow */
	struct outcome o = {.generation = r->version, .started_ns = started_ns, .variants_ms = -1};
	int rc = cachet_store_build(r->cfg->root, old, &opt, &new, o.error, sizeof(o.error));
	r->rescans++;
	if (rc < 0) {
		o.ms = mono_ms() - t0;
		o.files = old->files;
		o.bytes = old->bytes;
		fprintf(stderr,
		        "cachet: reload failed after %lld ms: %s (generation %llu keeps serving)\n",
		        (long long)o.ms, o.error, (unsigned long long)r->version);
		status_write(r, &o);
		outcome_publish(r, &o);
		return;
	}
	diff_count(old, new, &o);
	publish(r, new); /* old is released there: not used below */
	r->version++;
	o.ok = true;
	o.generation = r->version;
	o.files = new->files;
	o.bytes = new->bytes;
	o.identical = new->identical;
	o.reread = new->reread;
	size_t pending = new->pending;
	o.ms = mono_ms() - t0;
	fprintf(
	    stderr,
	    "cachet: reload: generation %llu, %zu added, %zu changed, %zu removed, %zu rewritten "
	    "identical, %zu files (%zu reread), %zu bytes, %lld ms%s\n",
	    (unsigned long long)o.generation, o.added, o.changed, o.removed, o.identical, o.files,
	    o.reread, o.bytes, (long long)o.ms, pending ? ", variants follow" : "");
	/* `cachet --reload` returns once the reload is complete, variants included: the new
	 * identity representations have served since the line above */
	if (pending) {
		variants_complete(r, 1); /* one thread: the workers keep the other CPUs */
		o.variants_ms = mono_ms() - t0;
	}
	status_write(r, &o);
	outcome_publish(r, &o);
	/* the previous generation is retired (publish), unless a send still pins it: its pages go
	 * back now rather than over the allocator's decay; after the reload is reported, so its
	 * time is not in the reload's */
	cachet_store_trim();
}

static unsigned cpus_usable(void)
{
	cpu_set_t set;
	int n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
	return n > 0 ? (unsigned)n : 1;
}

static void *reloader_main(void *arg)
{
	struct cachet_reloader *r = arg;
	/* variants the first generation was published without: made on every CPU, as nothing but
	 * serving competes for them yet */
	if (atomic_load(&r->shared->current)->pending)
		variants_complete(r, cpus_usable());
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->pending && !r->stop)
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stop)
			break;
		r->pending = false; /* every request so far is answered by this one rescan */
		pthread_mutex_unlock(&r->lock);
		rescan(r);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int cachet_reloader_start(struct cachet_reloader *r, const struct cachet_config *cfg,
                          struct cachet_shared *shared, struct cachet_worker *workers,
                          unsigned n_workers)
{
	r->cfg = cfg;
	r->shared = shared;
	r->workers = workers;
	r->n_workers = n_workers;
	r->generation = atomic_load(&shared->current)->generation;
	r->version = r->generation;
	if (cfg->pid_file)
		cachet_reload_status_path(cfg->pid_file, r->status_path, sizeof(r->status_path));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	return -pthread_create(&r->thread, NULL, reloader_main, r);
}

void cachet_reloader_request(struct cachet_reloader *r)
{
	pthread_mutex_lock(&r->lock);
	r->pending = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

void cachet_reloader_stop(struct cachet_reloader *r)
{
	/* ends a wait for acknowledgements at once, and a compression between two files */
	atomic_store(&r->quit, true);
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	if (r->status_path[0])
		status_remove_if_ours(r->status_path);
}

void cachet_reloader_release(struct cachet_reloader *r)
{
	for (unsigned i = 0; i < r->n_held; i++)
		cachet_store_unref(r->held[i]);
	r->n_held = 0;
}

/* ---- the client: cachet --reload ---- */

static long pid_read(const char *pid_file)
{
	FILE *f = fopen(pid_file, "r");
	long pid = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 1)
		pid = -1;
	fclose(f);
	return pid;
}

/* The target of /proc/PID/exe, or "" when it cannot be read (another user's process). */
static void exe_of(const char *proc, char *out, size_t outlen)
{
	char link[64];
	snprintf(link, sizeof(link), "%s/exe", proc);
	ssize_t n = readlink(link, out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
}

static void comm_of(const char *proc, char *out, size_t outlen)
{
	char path[64];
	snprintf(path, sizeof(path), "%s/comm", proc);
	out[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(out, (int)outlen, f))
		out[0] = '\0';
	fclose(f);
}

/* True when pid is a cachet this user may signal: same executable as ours (or, when the binary
 * was replaced since it started, the same command name) and, unless we are root, our uid. A pid
 * file left behind may name any process by now, and SIGHUP kills most. */
static bool pid_is_cachet(long pid)
{
	char proc[32], exe[PATH_MAX], self[PATH_MAX], comm[32], own[32];
	struct stat st;
	snprintf(proc, sizeof(proc), "/proc/%ld", pid);
	if (stat(proc, &st) < 0 || (geteuid() != 0 && st.st_uid != geteuid()))
		return false;
	exe_of(proc, exe, sizeof(exe));
	exe_of("/proc/self", self, sizeof(self));
	if (exe[0] && strcmp(exe, self) == 0)
		return true;
	comm_of(proc, comm, sizeof(comm));
	comm_of("/proc/self", own, sizeof(own));
	return comm[0] && strcmp(comm, own) == 0;
}

static long long field(const char *text, const char *name)
{
	const char *p = strstr(text, name);
	return p ? strtoll(p + strlen(name), NULL, 10) : -1;
}

/* Reads the status file; true when it reports a rescan that started at or after since_ns. */
static bool status_answers(const char *path, int64_t since_ns, bool *ok, char *text, size_t textlen)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(text, 1, textlen - 1, f);
	fclose(f);
	text[n] = '\0';
	if (field(text, "\nstarted_ns=") < since_ns)
		return false;
	*ok = strstr(text, "\nok=1\n") != NULL;
	return true;
}

int cachet_reload_client(const char *pid_file)
{
	long pid = pid_read(pid_file);
	if (pid < 0) {
		fprintf(stderr, "cachet: no server running (no pid in %s)\n", pid_file);
		return 2;
	}
	/* Any rescan that starts after this moment sees the caller's changes, even if this SIGHUP
	 * is merged with one already pending or coalesced into a rescan already asked for. */
	int64_t since = cachet_clock_mono_ns();
	if (!pid_is_cachet(pid)) {
		fprintf(stderr,
		        "cachet: pid %ld from %s is not a cachet of this user; not signalled\n",
		        pid, pid_file);
		return 2;
	}
	if (kill((pid_t)pid, SIGHUP) < 0) {
		fprintf(stderr, "cachet: no server running (pid %ld from %s: %s)\n", pid, pid_file,
		        strerror(errno));
		return 2;
	}
	char path[4200], text[4096];
	cachet_reload_status_path(pid_file, path, sizeof(path));
	int64_t deadline = mono_ms() + CLIENT_WAIT_S * 1000;
	bool ok = false;
	while (!status_answers(path, since, &ok, text, sizeof(text))) {
		if (kill((pid_t)pid, 0) < 0 || mono_ms() > deadline) {
			fprintf(stderr, "cachet: server %ld did not report the reload\n", pid);
			return 2;
		}
		sleep_ns(CLIENT_POLL_NS);
	}
	if (!ok) {
		const char *e = strstr(text, "\nerror=");
		fprintf(stderr, "cachet: reload failed: %.*s\n", e ? (int)strcspn(e + 7, "\n") : 0,
		        e ? e + 7 : "");
		return 1;
	}
	printf(
	    "cachet: reloaded: generation %lld, %lld files, %lld bytes (%lld added, %lld changed, "
	    "%lld removed, %lld rewritten identical, %lld reread) in %lld ms\n",
	    field(text, "\ngeneration="), field(text, "\nfiles="), field(text, "\nbytes="),
	    field(text, "\nadded="), field(text, "\nchanged="), field(text, "\nremoved="),
	    field(text, "\nidentical="), field(text, "\nreread="), field(text, "\nms="));
	return 0;
}
