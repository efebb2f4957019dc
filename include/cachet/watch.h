/* watch.h - `--watch`: inotify on ROOT triggers the same rescan as SIGHUP, debounced. */
#ifndef CACHET_WATCH_H
#define CACHET_WATCH_H

#include <pthread.h>

#include "cachet/reload.h"

struct cachet_watch {
	const char *root;
	unsigned debounce_ms;
	struct cachet_reloader *reloader;
	int inotify_fd;
	int stop_fd; /* eventfd: written by cachet_watch_stop() */
	pthread_t thread;
};

/**
 * Watches every directory under root (dot-directories excluded, as they are never served) and,
 * once changes have been quiet for debounce_ms, asks reloader for a rescan. Directories created
 * later are watched after the rescan they trigger. Returns 0 or -errno.
 */
int cachet_watch_start(struct cachet_watch *w, const char *root, unsigned debounce_ms,
                       struct cachet_reloader *reloader);

/** Stops the watcher thread and closes its descriptors. */
void cachet_watch_stop(struct cachet_watch *w);

#endif
