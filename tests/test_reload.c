/* test_reload.c - the reload thread against stand-in workers: a worker that never acknowledges
 * a new generation must not hold up a stop, and what it held back is released afterwards. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cachet/clock.h"
#include "cachet/config.h"
#include "cachet/reload.h"
#include "cachet/store.h"

static void tree_make(char *dir)
{
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/index.html", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("hello\n", f);
	assert_int_equal(fclose(f), 0);
}

static void tree_remove(const char *dir)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/index.html", dir);
	unlink(path);
	rmdir(dir);
}

/* A worker that took generation 1 and then hangs: it never acknowledges anything newer. */
static void test_stop_while_a_worker_is_stuck(void **state)
{
	(void)state;
	char dir[] = "/tmp/cachet-test-reload-XXXXXX";
	tree_make(dir);
	char *argv[] = {"cachet", "--root", dir, "--pid-file", "", NULL};
	struct cachet_config cfg;
	char err[512];
	assert_int_equal(cachet_config_parse(&cfg, 5, argv, err, sizeof(err)), 0);

	struct cachet_store_options opt;
	cachet_config_store_options(&cfg, &opt);
	opt.generation = 1;
	struct cachet_store *st;
	assert_int_equal(cachet_store_build(dir, NULL, &opt, &st, err, sizeof(err)), 0);
	static struct cachet_shared shared;
	atomic_store(&shared.current, st);
	static struct cachet_worker stuck;
	stuck.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(stuck.wake_fd >= 0);
	atomic_store(&stuck.gen_seen, 1);

	static struct cachet_reloader r;
	assert_int_equal(cachet_reloader_start(&r, &cfg, &shared, &stuck, 1), 0);
	cachet_reloader_request(&r);
	/* wait (bounded) until generation 2 is published: the reloader is then waiting for acks */
	for (int i = 0; i < 5000 && atomic_load(&shared.current)->generation != 2; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&shared.current)->generation, 2);

	int64_t t0 = cachet_clock_mono_ns();
	alarm(20); /* a stop that waits for the stuck worker would hang here: fail, not hang */
	cachet_reloader_stop(&r);
	alarm(0);
	/* far less than the acknowledgement limit: the stop ended the wait */
	assert_true(cachet_clock_mono_ns() - t0 < INT64_C(5000000000));
	assert_int_equal(r.n_held, 1); /* generation 1: the stuck worker may still load it */
	cachet_reloader_release(&r);   /* ASan's leak check sees anything left behind */
	assert_int_equal(r.n_held, 0);
	cachet_store_unref(atomic_load(&shared.current));
	close(stuck.wake_fd);
	tree_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stop_while_a_worker_is_stuck),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
