/* watch.c - the --watch thread: inotify events -> quiet period -> one rescan request. */
#define _GNU_SOURCE
#include "cachet/watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |        \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define WATCH_DEPTH_MAX 64

/* One directory on the path from ROOT down to the one being walked. */
struct ancestor {
	dev_t dev;
	ino_t ino;
	const struct ancestor *up;
};

static bool is_ancestor(const struct ancestor *a, const struct stat *st)
{
	for (; a; a = a->up)
		if (a->dev == st->st_dev && a->ino == st->st_ino)
			return true;
	return false;
}

/* Adds a watch on dir and every non-dot directory below it. Watching a directory twice is
 * harmless (inotify returns the same descriptor), so this is simply rerun after each change.
 * Symbolic links are followed (the store serves through them), but never into a directory that
 * is already on the path from ROOT: two links to "." would otherwise branch twice per level,
 * 2^WATCH_DEPTH_MAX calls, with signals blocked (the store scan has the same check). */
static void watch_tree(int ifd, char *dir, size_t len, unsigned depth, const struct ancestor *up)
{
	if (depth > WATCH_DEPTH_MAX)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return; /* not a directory (or gone): nothing to watch */
	struct stat st;
	if (fstat(dirfd(d), &st) < 0 || is_ancestor(up, &st) ||
	    inotify_add_watch(ifd, dir, WATCH_MASK) < 0) {
		closedir(d);
		return;
	}
	const struct ancestor self = {st.st_dev, st.st_ino, up};
	const struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t nlen = strlen(de->d_name);
		if (de->d_name[0] == '.' || len + 1 + nlen >= PATH_MAX)
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
			continue;
		dir[len] = '/';
		memcpy(dir + len + 1, de->d_name, nlen + 1);
		watch_tree(ifd, dir, len + 1 + nlen, depth + 1, &self);
		dir[len] = '\0';
	}
	closedir(d);
}

static void rewatch(struct cachet_watch *w)
{
	char dir[PATH_MAX];
	size_t len = strlen(w->root);
	if (len >= sizeof(dir))
		return;
	memcpy(dir, w->root, len + 1);
	watch_tree(w->inotify_fd, dir, len, 0, NULL);
}

/* Reads and discards pending events: which file changed does not matter, the rescan finds out. */
static void drain(struct cachet_watch *w)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(w->inotify_fd, buf, sizeof(buf)) > 0)
		;
}

static void *watch_main(void *arg)
{
	struct cachet_watch *w = arg;
	struct pollfd p[2] = {{.fd = w->inotify_fd, .events = POLLIN},
	                      {.fd = w->stop_fd, .events = POLLIN}};
	bool dirty = false;
	for (;;) {
		/* while changes are pending, wait only for the quiet period to pass */
		int n = poll(p, 2, dirty ? (int)w->debounce_ms : -1);
		if (n < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (n > 0 && (p[0].revents & POLLIN)) {
			drain(w);
			dirty = true;
			continue;
		}
		if (n == 0 && dirty) {
			dirty = false;
			rewatch(w);
			cachet_reloader_request(w->reloader);
		}
	}
	return NULL;
}

int cachet_watch_start(struct cachet_watch *w, const char *root, unsigned debounce_ms,
                       struct cachet_reloader *reloader)
{
	w->root = root;
	w->debounce_ms = debounce_ms;
	w->reloader = reloader;
	w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->inotify_fd < 0)
		return -errno;
	w->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (w->stop_fd < 0) {
		int rc = -errno;
		close(w->inotify_fd);
		return rc;
	}
	rewatch(w);
	int rc = pthread_create(&w->thread, NULL, watch_main, w);
	if (rc) {
		close(w->inotify_fd);
		close(w->stop_fd);
		return -rc;
	}
	return 0;
}

void cachet_watch_stop(struct cachet_watch *w)
{
	uint64_t one = 1;
	if (write(w->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(w->thread, NULL);
	close(w->inotify_fd);
	close(w->stop_fd);
}
