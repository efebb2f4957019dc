/* test_store.c - building generations from a temporary tree: counts, ETags, header blocks,
 * symlinks, directory indexes, the hash index, blob reuse, limits, error blocks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cachet/etag.h"
#include "cachet/httpdate.h"
#include "cachet/store.h"
#include "test_heads.h"
#include "test_text.h"

#define LM_1994      INT64_C(784111777) /* Sun, 06 Nov 1994 08:49:37 GMT */
#define LM_1994_TEXT "Sun, 06 Nov 1994 08:49:37 GMT"

/* Per-test fixture: BASE/ holds root/ (what is served) and outside/ (what must never be). */
struct tree {
	char base[64];
	char root[128];
	char outside[128];
	struct cachet_store *st;
	char err[256];
};

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	strcpy(t->base, "/tmp/cachet_test_store.XXXXXX");
	if (!mkdtemp(t->base)) {
		free(t);
		return -1;
	}
	snprintf(t->root, sizeof(t->root), "%s/root", t->base);
	snprintf(t->outside, sizeof(t->outside), "%s/outside", t->base);
	if (mkdir(t->root, 0755) < 0 || mkdir(t->outside, 0755) < 0) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	cachet_store_unref(t->st);
	int rc = nftw(t->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return rc;
}

/* Creates ROOT/rel (or an absolute path) with the given bytes; parent directories must exist. */
static void put_file(const struct tree *t, const char *rel, const char *data, size_t len)
{
	char p[PATH_MAX];
	if (rel[0] == '/')
		snprintf(p, sizeof(p), "%s", rel);
	else
		snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void put(const struct tree *t, const char *rel, const char *text)
{
	put_file(t, rel, text, strlen(text));
}

static void put_dir(const struct tree *t, const char *rel)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void put_link(const struct tree *t, const char *target, const char *rel)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	assert_int_equal(symlink(target, p), 0);
}

static void set_mtime(const struct tree *t, const char *rel, int64_t sec, long nsec)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", t->root, rel);
	struct timespec ts[2] = {{.tv_sec = (time_t)sec, .tv_nsec = nsec},
	                         {.tv_sec = (time_t)sec, .tv_nsec = nsec}};
	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static struct cachet_store *build_prev(struct tree *t, const struct cachet_store *prev)
{
	struct cachet_store_options opt = {.generation = 1};
	struct cachet_store *st = NULL;
	t->err[0] = '\0';
	int rc = cachet_store_build(t->root, prev, &opt, &st, t->err, sizeof(t->err));
	if (rc != 0)
		print_error("build failed: %d %s\n", rc, t->err);
	assert_int_equal(rc, 0);
	assert_non_null(st);
	return st;
}

/* Builds t->root into t->st (replacing an earlier one). */
static struct cachet_store *build(struct tree *t)
{
	cachet_store_unref(t->st);
	t->st = NULL;
	t->st = build_prev(t, NULL);
	return t->st;
}

static const struct cachet_entry *look(const struct cachet_store *st, const char *path)
{
	return cachet_store_lookup(st, path, strlen(path));
}

static const struct cachet_entry *must(const struct cachet_store *st, const char *path)
{
	const struct cachet_entry *e = look(st, path);
	if (!e)
		print_error("not found: %s\n", path);
	assert_non_null(e);
	return e;
}

/* The block as a NUL-terminated string (blocks are NUL-terminated by the store, but the test
 * must not rely on that for its own searches). */
static const char *block_str(const struct cachet_block *b, char *buf, size_t cap)
{
	/* abort(), not assert_*(): cmocka's assertions are not noreturn, so at -O2 GCC follows the
	 * failed-check path into the callers' printf of the result (-Wformat-overflow). */
	if (b->text == NULL || b->len >= cap)
		abort();
	memcpy(buf, b->text, b->len);
	buf[b->len] = '\0';
	return buf;
}

static bool has_line(const char *block, const char *line)
{
	return strstr(block, line) != NULL;
}

/* Date placement common to every block: "\r\nDate: " + 29 bytes ending in GMT + "\r\n". */
static void check_date(const struct cachet_block *b)
{
	const size_t name = sizeof(CACHET_BLOCK_DATE_NAME) - 1;
	assert_true(b->date_off >= name + 2);
	assert_true(b->date_off + CACHET_HTTPDATE_LEN + 2 <= b->len);
	assert_memory_equal(b->text + b->date_off - name - 2, "\r\nDate: ", name + 2);
	assert_memory_equal(b->text + b->date_off + CACHET_HTTPDATE_LEN - 3, "GMT\r\n", 5);
	/* It parses as a date: the 29 bytes are a whole IMF-fixdate, not part of a longer value. */
	int64_t t;
	assert_int_equal(cachet_httpdate_parse(b->text + b->date_off, CACHET_HTTPDATE_LEN, &t), 0);
	/* The block ends after one header line's CRLF, not with the blank line. */
	assert_true(b->len >= 4);
	assert_memory_equal(b->text + b->len - 2, "\r\n", 2);
	assert_memory_not_equal(b->text + b->len - 4, "\r\n\r\n", 4);
}

/* ---- counts, dotfiles ---- */

static void test_counts_and_dotfiles(void **state)
{
	struct tree *t = *state;
	put(t, "a.txt", "hello");
	put_dir(t, "sub");
	put(t, "sub/b.html", "0123456789");
	put(t, ".hidden", "abc");
	put_dir(t, ".dotdir");
	put(t, ".dotdir/x.txt", "xyz");
	put_dir(t, "sub/.git");
	put(t, "sub/.git/config", "[core]");
	put(t, "sub/.env", "SECRET=1");
	const struct cachet_store *st = build(t);
	assert_int_equal(st->files, 2);
	assert_int_equal(st->bytes, 15);
	assert_int_equal(st->generation, 1);
	const struct cachet_entry *a = must(st, "/a.txt");
	assert_int_equal(a->kind, CACHET_ENTRY_FILE);
	assert_int_equal(a->repr[CACHET_CODING_IDENTITY].body_len, 5);
	assert_memory_equal(a->repr[CACHET_CODING_IDENTITY].body, "hello", 5);
	assert_string_equal(a->path, "/a.txt");
	const struct cachet_entry *b = must(st, "/sub/b.html");
	assert_memory_equal(b->repr[CACHET_CODING_IDENTITY].body, "0123456789", 10);
	static const char *const absent[] = {
	    "/.hidden",  "/.dotdir/x.txt", "/.dotdir/", "/.dotdir", "/sub/.git/config",
	    "/sub/.env", "/sub/.git/",     "a.txt",     "/a.txt/",  "/A.txt",
	    "/sub",      "/sub/",          "",
	};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		if (look(st, absent[i]))
			print_error("unexpectedly found: '%s'\n", absent[i]);
		assert_null(look(st, absent[i]));
	}
}

static void test_empty_root(void **state)
{
	struct tree *t = *state;
	const struct cachet_store *st = build(t);
	assert_int_equal(st->files, 0);
	assert_int_equal(st->bytes, 0);
	assert_null(look(st, "/"));
	assert_null(look(st, "/index.html"));
}

/* ---- ETags ---- */

static void check_etag_format(const char *tag, size_t len)
{
	assert_int_equal(len, 18);
	assert_int_equal(tag[0], '"');
	assert_int_equal(tag[17], '"');
	for (size_t i = 1; i < 17; i++) {
		bool hex = (tag[i] >= '0' && tag[i] <= '9') || (tag[i] >= 'a' && tag[i] <= 'f');
		if (!hex)
			print_error("bad ETag char '%c' in %.*s\n", tag[i], (int)len, tag);
		assert_true(hex);
	}
}

static void test_etag_deterministic(void **state)
{
	struct tree *t = *state;
	put(t, "x.txt", "same bytes");
	put(t, "twin.txt", "same bytes");
	put(t, "other.txt", "other bytes");
	put(t, "empty.txt", "");
	set_mtime(t, "x.txt", 1000000000, 0);
	const struct cachet_store *st = build(t);
	char tag1[CACHET_ETAG_MAX];
	const struct cachet_entry *x = must(st, "/x.txt");
	assert_true(x->repr[CACHET_CODING_IDENTITY].etag_len < sizeof(tag1));
	memcpy(tag1, x->repr[CACHET_CODING_IDENTITY].etag,
	       x->repr[CACHET_CODING_IDENTITY].etag_len);
	size_t len1 = x->repr[CACHET_CODING_IDENTITY].etag_len;
	check_etag_format(tag1, len1);

	/* Identical content in another file: same tag. Different content: a different tag. */
	const struct cachet_entry *twin = must(st, "/twin.txt");
	assert_int_equal(twin->repr[CACHET_CODING_IDENTITY].etag_len, len1);
	assert_memory_equal(twin->repr[CACHET_CODING_IDENTITY].etag, tag1, len1);
	const struct cachet_entry *other = must(st, "/other.txt");
	check_etag_format(other->repr[CACHET_CODING_IDENTITY].etag,
	                  other->repr[CACHET_CODING_IDENTITY].etag_len);
	assert_memory_not_equal(other->repr[CACHET_CODING_IDENTITY].etag, tag1, len1);
	const struct cachet_entry *empty = must(st, "/empty.txt");
	check_etag_format(empty->repr[CACHET_CODING_IDENTITY].etag,
	                  empty->repr[CACHET_CODING_IDENTITY].etag_len);
	assert_int_equal(empty->repr[CACHET_CODING_IDENTITY].body_len, 0);

	/* The tag is the tag of the bytes, as etag.c makes it. */
	char want[CACHET_ETAG_MAX];
	size_t wlen = cachet_etag_from_bytes("same bytes", 10, want);
	assert_int_equal(wlen, len1);
	assert_memory_equal(want, tag1, len1);

	/* Other mtimes (seconds and nanoseconds), fresh build: the tag does not move. */
	static const struct {
		int64_t sec;
		long nsec;
	} mtimes[] = {{1, 0}, {1500000000, 123456789}, {1700000000, 999999999}};
	for (size_t i = 0; i < sizeof(mtimes) / sizeof(mtimes[0]); i++) {
		set_mtime(t, "x.txt", mtimes[i].sec, mtimes[i].nsec);
		st = build(t);
		x = must(st, "/x.txt");
		assert_int_equal(x->repr[CACHET_CODING_IDENTITY].etag_len, len1);
		assert_memory_equal(x->repr[CACHET_CODING_IDENTITY].etag, tag1, len1);
		assert_int_equal(x->last_modified, mtimes[i].sec);
	}

	/* New bytes in the same file: a new tag. */
	put(t, "x.txt", "same bytez");
	st = build(t);
	x = must(st, "/x.txt");
	check_etag_format(x->repr[CACHET_CODING_IDENTITY].etag,
	                  x->repr[CACHET_CODING_IDENTITY].etag_len);
	assert_memory_not_equal(x->repr[CACHET_CODING_IDENTITY].etag, tag1, len1);
}

/* ---- header blocks ---- */

struct type_case {
	const char *name;
	const char *type;
};

static const struct type_case type_cases[] = {
    {"page.html", "text/html; charset=utf-8"},
    {"style.css", "text/css; charset=utf-8"},
    {"app.js", "text/javascript; charset=utf-8"},
    {"data.json", "application/json; charset=utf-8"},
    {"img.png", "image/png"},
    {"README.TXT", "text/plain; charset=utf-8"},
    {"noext", "application/octet-stream"},
    {"blob.unknownext", "application/octet-stream"},
};

static void test_ok_block(void **state)
{
	struct tree *t = *state;
	const size_t n = sizeof(type_cases) / sizeof(type_cases[0]);
	for (size_t i = 0; i < n; i++) {
		put(t, type_cases[i].name, type_cases[i].name); /* the name is the content */
		set_mtime(t, type_cases[i].name, LM_1994, 0);
	}
	const struct cachet_store *st = build(t);
	assert_int_equal(st->files, n);
	for (size_t i = 0; i < n; i++) {
		char key[64], buf[2048], line[256];
		snprintf(key, sizeof(key), "/%s", type_cases[i].name);
		const struct cachet_entry *e = must(st, key);
		assert_string_equal(e->content_type, type_cases[i].type);
		assert_int_equal(e->last_modified, LM_1994);
		const char *s = file_head(e, CACHET_CODING_IDENTITY, 200, buf, sizeof(buf));
		assert_true(has_line(s, "\r\nDate: " TEST_HEADS_DATE "\r\n"));
		assert_true(strncmp(s, "HTTP/1.1 200 OK\r\nDate: ", 23) == 0);
		snprintf(line, sizeof(line), "\r\nContent-Type: %s\r\n", type_cases[i].type);
		assert_true(has_line(s, line));
		snprintf(line, sizeof(line), "\r\nContent-Length: %zu\r\n",
		         strlen(type_cases[i].name));
		assert_true(has_line(s, line));
		assert_true(has_line(s, "\r\nLast-Modified: " LM_1994_TEXT "\r\n"));
		snprintf(line, sizeof(line), "\r\nETag: %.*s\r\n",
		         (int)e->repr[CACHET_CODING_IDENTITY].etag_len,
		         e->repr[CACHET_CODING_IDENTITY].etag);
		assert_true(has_line(s, line));
		check_etag_format(e->repr[CACHET_CODING_IDENTITY].etag,
		                  e->repr[CACHET_CODING_IDENTITY].etag_len);
		/* The keep-alive decision belongs to the sender, not the block. */
		assert_false(has_line(s, "Connection:"));
		assert_int_equal(e->repr[CACHET_CODING_IDENTITY].body_len,
		                 strlen(type_cases[i].name));
		assert_ptr_equal(e->repr[CACHET_CODING_IDENTITY].body, e->blob->data);
	}
}

static void test_not_modified_block(void **state)
{
	struct tree *t = *state;
	put(t, "page.html", "<p>hi</p>");
	set_mtime(t, "page.html", LM_1994, 0);
	const struct cachet_store *st = build(t);
	const struct cachet_entry *e = must(st, "/page.html");
	char buf[2048], line[128];
	const char *s = file_head(e, CACHET_CODING_IDENTITY, 304, buf, sizeof(buf));
	assert_true(has_line(s, "\r\nDate: " TEST_HEADS_DATE "\r\n"));
	assert_true(strncmp(s, "HTTP/1.1 304 Not Modified\r\nDate: ", 33) == 0);
	snprintf(line, sizeof(line), "\r\nETag: %.*s\r\n",
	         (int)e->repr[CACHET_CODING_IDENTITY].etag_len,
	         e->repr[CACHET_CODING_IDENTITY].etag);
	assert_true(has_line(s, line));
	assert_false(has_line(s, "Content-Type"));
	assert_false(has_line(s, "Content-Length"));
	assert_false(has_line(s, "Connection:"));
}

static void test_last_modified_clamped(void **state)
{
	struct tree *t = *state;
	put(t, "future.txt", "from the future");
	put(t, "past.txt", "from the past");
	time_t now = time(NULL);
	set_mtime(t, "future.txt", (int64_t)now + 10 * 86400, 0);
	set_mtime(t, "past.txt", (int64_t)now - 86400, 0);
	time_t before = time(NULL);
	const struct cachet_store *st = build(t);
	time_t after = time(NULL);
	const struct cachet_entry *f = must(st, "/future.txt");
	assert_true(f->last_modified >= (int64_t)before);
	assert_true(f->last_modified <= (int64_t)after);
	char lm[CACHET_HTTPDATE_LEN + 1], line[64], buf[2048];
	cachet_httpdate_format(f->last_modified, lm);
	lm[CACHET_HTTPDATE_LEN] = '\0';
	snprintf(line, sizeof(line), "\r\nLast-Modified: %s\r\n", lm);
	assert_true(has_line(file_head(f, CACHET_CODING_IDENTITY, 200, buf, sizeof(buf)), line));
	const struct cachet_entry *p = must(st, "/past.txt");
	assert_int_equal(p->last_modified, (int64_t)now - 86400);
}

/* ---- symlinks ---- */

static void test_symlinks(void **state)
{
	struct tree *t = *state;
	char p[PATH_MAX];
	put(t, "target.txt", "inside");
	put_dir(t, "sub");
	put(t, "sub/deep.txt", "deep");
	snprintf(p, sizeof(p), "%s/secret.txt", t->outside);
	put(t, p, "outside");
	put_link(t, "target.txt", "rel-link.txt");
	snprintf(p, sizeof(p), "%s/target.txt", t->root);
	put_link(t, p, "abs-link.txt");
	put_link(t, "../target.txt", "sub/up-link.txt");
	snprintf(p, sizeof(p), "%s/secret.txt", t->outside);
	put_link(t, p, "out-abs.txt");
	put_link(t, "../outside/secret.txt", "out-rel.txt");
	put_link(t, "../../outside/secret.txt", "sub/out-rel2.txt");
	put_link(t, t->outside, "outdir");
	put_link(t, "/etc/hostname", "etc-link.txt");
	put_link(t, "nowhere.txt", "dangling.txt");
	put_link(t, "sub", "subalias");
	const struct cachet_store *st = build(t);

	static const struct {
		const char *path;
		const char *body; /* NULL: must not be served */
	} cases[] = {
	    {"/target.txt", "inside"},      {"/rel-link.txt", "inside"},
	    {"/abs-link.txt", "inside"},    {"/sub/up-link.txt", "inside"},
	    {"/subalias/deep.txt", "deep"}, {"/out-abs.txt", NULL},
	    {"/out-rel.txt", NULL},         {"/sub/out-rel2.txt", NULL},
	    {"/outdir/secret.txt", NULL},   {"/etc-link.txt", NULL},
	    {"/dangling.txt", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cachet_entry *e = look(st, cases[i].path);
		if (!cases[i].body) {
			if (e)
				print_error("served: %s\n", cases[i].path);
			assert_null(e);
			continue;
		}
		e = must(st, cases[i].path);
		assert_int_equal(e->repr[CACHET_CODING_IDENTITY].body_len, strlen(cases[i].body));
		assert_memory_equal(e->repr[CACHET_CODING_IDENTITY].body, cases[i].body,
		                    strlen(cases[i].body));
	}
	/* The link is served under its own name: its extension gives the type. */
	assert_string_equal(must(st, "/rel-link.txt")->content_type, "text/plain; charset=utf-8");
}

static void test_symlink_loops_bounded(void **state)
{
	struct tree *t = *state;
	put(t, "top.txt", "top");
	put_dir(t, "a");
	put_dir(t, "b");
	put(t, "a/x.txt", "x");
	put_link(t, "..", "a/up");     /* a/up -> ROOT, an ancestor */
	put_link(t, ".", "a/self");    /* a/self -> a */
	put_link(t, "../b", "a/to-b"); /* a -> b -> a ... */
	put_link(t, "../a", "b/to-a");
	put_link(t, "loop2", "loop1"); /* a symlink cycle: ELOOP on open */
	put_link(t, "loop1", "loop2");
	alarm(20); /* a hang fails the test instead of the run */
	const struct cachet_store *st = build(t);
	alarm(0);
	must(st, "/top.txt");
	must(st, "/a/x.txt");
	assert_null(look(st, "/a/up/top.txt"));
	assert_null(look(st, "/a/self/x.txt"));
	assert_null(look(st, "/loop1"));
	assert_null(look(st, "/loop2"));
	/* Reached once through a/to-b, and b/to-a leads back to the ancestor a. */
	assert_null(look(st, "/a/to-b/to-a/x.txt"));
	must(st, "/b/to-a/x.txt");
	/* top.txt, a/x.txt, b/to-a/x.txt: each reached once per acyclic path. */
	assert_int_equal(st->files, 3);
}

static void test_depth_limit(void **state)
{
	struct tree *t = *state;
	char rel[PATH_MAX] = "";
	size_t len = 0;
	for (int i = 0; i < 80; i++) {
		len += (size_t)snprintf(rel + len, sizeof(rel) - len, "%sd", i ? "/" : "");
		put_dir(t, rel);
	}
	struct cachet_store_options opt = {0};
	struct cachet_store *st = NULL;
	int rc = cachet_store_build(t->root, NULL, &opt, &st, t->err, sizeof(t->err));
	assert_int_equal(rc, -ELOOP);
	assert_null(st);
	assert_true(strlen(t->err) > 0);
}

/* ---- directory indexes ---- */

static void check_index_of(const struct cachet_store *st, const char *key, const char *file)
{
	const struct cachet_entry *e = must(st, key);
	assert_int_equal(e->kind, CACHET_ENTRY_FILE);
	assert_string_equal(e->path, file);
	assert_ptr_equal(e, must(st, file));
}

static void test_directory_index(void **state)
{
	struct tree *t = *state;
	put(t, "index.html", "root index");
	put_dir(t, "sub");
	put(t, "sub/index.html", "sub index");
	put_dir(t, "sub/deeper");
	put(t, "sub/deeper/index.html", "deeper index");
	put_dir(t, "empty");
	put_dir(t, "noindex");
	put(t, "noindex/other.html", "not an index");
	put_dir(t, "onlydir");
	put_dir(t, "onlydir/index.html"); /* a directory named index.html is not an index */
	const struct cachet_store *st = build(t);
	assert_int_equal(st->files, 4);
	check_index_of(st, "/", "/index.html");
	check_index_of(st, "/sub/", "/sub/index.html");
	check_index_of(st, "/sub/deeper/", "/sub/deeper/index.html");

	static const struct {
		const char *from, *location;
	} redirects[] = {{"/sub", "Location: /sub/\r\n"},
	                 {"/sub/deeper", "Location: /sub/deeper/\r\n"}};
	for (size_t i = 0; i < sizeof(redirects) / sizeof(redirects[0]); i++) {
		const struct cachet_entry *r = must(st, redirects[i].from);
		assert_int_equal(r->kind, CACHET_ENTRY_REDIRECT);
		char buf[1024];
		const char *s = block_str(r->redirect, buf, sizeof(buf));
		check_date(r->redirect);
		assert_true(strncmp(s, "HTTP/1.1 301 Moved Permanently\r\nDate: ", 38) == 0);
		assert_true(has_line(s, redirects[i].location));
		assert_true(has_line(s, "\r\nContent-Length: 0\r\n"));
	}
	static const char *const absent[] = {"/empty/",   "/empty",   "/noindex/", "/noindex",
	                                     "/onlydir/", "/onlydir", "//",        "/sub//"};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		if (look(st, absent[i]))
			print_error("unexpectedly found: '%s'\n", absent[i]);
		assert_null(look(st, absent[i]));
	}
	must(st, "/noindex/other.html");
}

/* ---- the hash index ---- */

#define MANY 2000

static void test_many_files(void **state)
{
	struct tree *t = *state;
	char name[64], body[64];
	put_dir(t, "d");
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "%sf%04d.txt", i % 2 ? "d/" : "", i);
		snprintf(body, sizeof(body), "file %d", i);
		put(t, name, body);
	}
	const struct cachet_store *st = build(t);
	assert_int_equal(st->files, MANY);
	/* Load factor at most one half, as the lookup's termination relies on empty slots. */
	assert_true(st->index_mask + 1 >= 2 * st->n_entries);
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "/%sf%04d.txt", i % 2 ? "d/" : "", i);
		snprintf(body, sizeof(body), "file %d", i);
		const struct cachet_entry *e = must(st, name);
		assert_string_equal(e->path, name);
		assert_int_equal(e->repr[CACHET_CODING_IDENTITY].body_len, strlen(body));
		assert_memory_equal(e->repr[CACHET_CODING_IDENTITY].body, body, strlen(body));
	}
	for (int i = 0; i < MANY; i++) {
		/* Absent keys: the wrong directory, a missing number, near misses. */
		snprintf(name, sizeof(name), "/%sf%04d.txt", i % 2 ? "" : "d/", i);
		assert_null(look(st, name));
		snprintf(name, sizeof(name), "/f%04d.txt", MANY + i);
		assert_null(look(st, name));
	}
	assert_null(look(st, "/f0000.tx"));
	assert_null(look(st, "/f0000.txt/"));
	assert_null(look(st, "/F0000.txt"));
	assert_null(look(st, "/d"));
	assert_null(look(st, "/d/"));
	/* A key compared by length, not by NUL: a prefix of a real key is absent. */
	assert_null(cachet_store_lookup(st, "/f0000.txt", 9));
	assert_non_null(cachet_store_lookup(st, "/f0000.txtXYZ", 10));
}

/* ---- reuse across generations ---- */

static void test_blob_reuse(void **state)
{
	struct tree *t = *state;
	put(t, "same.txt", "unchanged");
	put(t, "grow.txt", "short");
	put(t, "touch.txt", "touched");
	put(t, "rewrite.txt", "abc");
	put(t, "gone.txt", "gone");
	set_mtime(t, "same.txt", 1600000000, 0);
	set_mtime(t, "grow.txt", 1600000000, 0);
	set_mtime(t, "touch.txt", 1600000000, 0);
	set_mtime(t, "rewrite.txt", 1600000000, 0);
	struct cachet_store *g1 = build_prev(t, NULL);
	const struct cachet_blob *same1 = must(g1, "/same.txt")->blob;
	const struct cachet_blob *grow1 = must(g1, "/grow.txt")->blob;
	const struct cachet_blob *touch1 = must(g1, "/touch.txt")->blob;
	const struct cachet_blob *rewrite1 = must(g1, "/rewrite.txt")->blob;
	char touch_tag[CACHET_ETAG_MAX];
	memcpy(touch_tag, touch1->etag, touch1->etag_len);

	put(t, "grow.txt", "longer now");           /* new size */
	set_mtime(t, "grow.txt", 1600000000, 0);    /* ... same mtime */
	set_mtime(t, "touch.txt", 1600000000, 1);   /* same size, new mtime (1 ns) */
	put(t, "rewrite.txt", "xyz");               /* same size, new bytes */
	set_mtime(t, "rewrite.txt", 1600000001, 0); /* ... new mtime */
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/gone.txt", t->root);
	assert_int_equal(unlink(p), 0);
	put(t, "new.txt", "new");

	struct cachet_store *g2 = build_prev(t, g1);
	assert_int_equal(g2->files, 5);
	const struct cachet_entry *same2 = must(g2, "/same.txt");
	assert_ptr_equal(same2->blob, same1);
	assert_ptr_equal(same2->repr[CACHET_CODING_IDENTITY].body, same1->data);
	assert_int_equal(atomic_load(&same2->blob->refs), 2);
	const struct cachet_entry *grow2 = must(g2, "/grow.txt");
	assert_ptr_not_equal(grow2->blob, grow1);
	assert_memory_equal(grow2->repr[CACHET_CODING_IDENTITY].body, "longer now", 10);
	const struct cachet_entry *touch2 = must(g2, "/touch.txt");
	assert_ptr_equal(touch2->blob, touch1); /* reread, but the same bytes: reused by content */
	assert_memory_equal(touch2->repr[CACHET_CODING_IDENTITY].etag, touch_tag,
	                    touch2->repr[CACHET_CODING_IDENTITY].etag_len);
	/* reread: grow, touch, rewrite, new; of them touch was rewritten with its own bytes */
	assert_int_equal(g2->reread, 4);
	assert_int_equal(g2->identical, 1);
	const struct cachet_entry *rw2 = must(g2, "/rewrite.txt");
	assert_ptr_not_equal(rw2->blob, rewrite1);
	assert_memory_equal(rw2->repr[CACHET_CODING_IDENTITY].body, "xyz", 3);
	assert_null(look(g2, "/gone.txt"));
	must(g2, "/new.txt");

	/* The old generation goes; the shared blob stays alive for the new one (ASan checks). */
	cachet_store_unref(g1);
	assert_int_equal(atomic_load(&same2->blob->refs), 1);
	assert_memory_equal(same2->repr[CACHET_CODING_IDENTITY].body, "unchanged", 9);
	char buf[2048];
	assert_true(
	    has_line(file_head(same2, CACHET_CODING_IDENTITY, 200, buf, sizeof(buf)), "ETag: \""));

	/* A third generation from the second, then the second dropped first. */
	struct cachet_store *g3 = build_prev(t, g2);
	assert_int_equal(g3->reread, 0); /* nothing changed: nothing opened */
	assert_ptr_equal(must(g3, "/same.txt")->blob, same2->blob);
	assert_ptr_equal(must(g3, "/grow.txt")->blob, grow2->blob);
	cachet_store_unref(g2);
	assert_memory_equal(must(g3, "/grow.txt")->repr[CACHET_CODING_IDENTITY].body, "longer now",
	                    10);
	cachet_store_unref(g3);
}

/* ---- limits and failures ---- */

struct limit_case {
	size_t max_files, max_bytes;
	int ok;
	const char *msg; /* expected in err when not ok */
};

static const struct limit_case limit_cases[] = {
    {0, 0, 1, NULL},          {3, 0, 1, NULL},  {2, 0, 0, "max-files"},
    {1, 0, 0, "max-files"},   {0, 30, 1, NULL}, {0, 29, 0, "max-memory"},
    {0, 1, 0, "max-memory"},  {3, 30, 1, NULL}, {2, 30, 0, "max-files"},
    {3, 29, 0, "max-memory"},
};

static void test_limits(void **state)
{
	struct tree *t = *state;
	put(t, "a.txt", "0123456789");
	put(t, "b.txt", "0123456789");
	put(t, "c.txt", "0123456789");
	for (size_t i = 0; i < sizeof(limit_cases) / sizeof(limit_cases[0]); i++) {
		const struct limit_case *c = &limit_cases[i];
		struct cachet_store_options opt = {.max_files = c->max_files,
		                                   .max_bytes = c->max_bytes};
		struct cachet_store *st = NULL;
		t->err[0] = '\0';
		int rc = cachet_store_build(t->root, NULL, &opt, &st, t->err, sizeof(t->err));
		if ((rc == 0) != c->ok)
			print_error("case %zu: rc %d err '%s'\n", i, rc, t->err);
		if (c->ok) {
			assert_int_equal(rc, 0);
			assert_non_null(st);
			assert_int_equal(st->files, 3);
			cachet_store_unref(st);
			continue;
		}
		assert_true(rc < 0);
		assert_null(st);
		assert_non_null(strstr(t->err, c->msg));
	}
}

static void test_missing_root(void **state)
{
	struct tree *t = *state;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/does-not-exist", t->base);
	struct cachet_store_options opt = {0};
	struct cachet_store *st = NULL;
	int rc = cachet_store_build(p, NULL, &opt, &st, t->err, sizeof(t->err));
	assert_int_equal(rc, -ENOENT);
	assert_null(st);
	assert_non_null(strstr(t->err, p));

	/* A root that is a file. */
	put(t, "file.txt", "x");
	snprintf(p, sizeof(p), "%s/file.txt", t->root);
	t->err[0] = '\0';
	rc = cachet_store_build(p, NULL, &opt, &st, t->err, sizeof(t->err));
	assert_int_equal(rc, -ENOTDIR);
	assert_null(st);
	assert_true(strlen(t->err) > 0);
}

/* ---- error blocks ---- */

struct error_case {
	int status;
	const char *line; /* status line */
	bool close;       /* block says Connection: close */
};

static const struct error_case error_cases[] = {
    {400, "HTTP/1.1 400 Bad Request\r\n", true},
    {404, "HTTP/1.1 404 Not Found\r\n", false},
    {405, "HTTP/1.1 405 Method Not Allowed\r\n", false},
    {408, "HTTP/1.1 408 Request Timeout\r\n", true},
    {412, "HTTP/1.1 412 Precondition Failed\r\n", false},
    {414, "HTTP/1.1 414 URI Too Long\r\n", true},
    {431, "HTTP/1.1 431 Request Header Fields Too Large\r\n", true},
    {500, "HTTP/1.1 500 Internal Server Error\r\n", true},
    {501, "HTTP/1.1 501 Not Implemented\r\n", false},
    {503, "HTTP/1.1 503 Service Unavailable\r\n", true},
    {505, "HTTP/1.1 505 HTTP Version Not Supported\r\n", true},
};

static void test_error_blocks(void **state)
{
	struct tree *t = *state;
	const struct cachet_store *st = build(t);
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		const struct cachet_error *e = cachet_store_error(st, c->status);
		assert_non_null(e);
		assert_int_equal(e->status, c->status);
		char buf[1024], line[64];
		const char *s = block_str(&e->block, buf, sizeof(buf));
		check_date(&e->block);
		assert_true(strncmp(s, c->line, strlen(c->line)) == 0);
		snprintf(line, sizeof(line), "\r\nContent-Length: %zu\r\n", e->body_len);
		assert_true(has_line(s, line));
		assert_true(has_line(s, "\r\nContent-Type: text/plain"));
		assert_int_equal(has_line(s, "\r\nAllow: GET, HEAD\r\n"), c->status == 405);
		assert_int_equal(has_line(s, "\r\nConnection: close\r\n"), c->close);
		assert_non_null(e->body);
		assert_true(e->body_len > 4);
		snprintf(line, sizeof(line), "%d ", c->status);
		assert_memory_equal(e->body, line, 4);
		assert_int_equal(strlen(e->body), e->body_len);
	}
	/* Anything else gives the 500. */
	static const int other[] = {0, 200, 403, 999, -1};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		assert_int_equal(cachet_store_error(st, other[i])->status, 500);
}

static void test_refcount(void **state)
{
	struct tree *t = *state;
	put(t, "a.txt", "a");
	struct cachet_store *st = build_prev(t, NULL);
	cachet_store_ref(st);
	assert_int_equal(atomic_load(&st->refs), 2);
	cachet_store_unref(st);
	assert_int_equal(atomic_load(&st->refs), 1);
	must(st, "/a.txt");
	cachet_store_unref(st); /* frees: a leak or a second free shows under ASan */
	cachet_store_unref(NULL);
}

/* --add-header lines go, once, into the 200, 206, 304 and 301 blocks (as nginx's add_header);
 * not into the 416 or the error blocks. */
static void test_extra_headers(void **state)
{
	struct tree *t = *state;
	put(t, "a.txt", "alpha");
	put_dir(t, "sub");
	put(t, "sub/index.html", "sub index");
	static const char extra[] = "Access-Control-Allow-Origin: *\r\nX-Test: 1\r\n";
	struct cachet_store_options opt = {.generation = 1, .extra_headers = extra};
	struct cachet_store *st = NULL;
	assert_int_equal(cachet_store_build(t->root, NULL, &opt, &st, t->err, sizeof(t->err)), 0);
	const struct cachet_entry *e = must(st, "/a.txt");
	const struct cachet_repr *r = &e->repr[CACHET_CODING_IDENTITY];
	const int with[] = {200, 304, 206, 301};
	char buf[CACHET_BLOCK_MAX];
	for (size_t i = 0; i < sizeof(with) / sizeof(with[0]); i++) {
		const char *b =
		    with[i] == 301
		        ? block_str(must(st, "/sub")->redirect, buf, sizeof(buf))
		        : file_head(e, CACHET_CODING_IDENTITY, with[i], buf, sizeof(buf));
		if (!has_line(b, "\r\nAccess-Control-Allow-Origin: *\r\nX-Test: 1\r\n"))
			print_error("%d without the added lines:\n%s\n", with[i], b);
		assert_true(has_line(b, "\r\nAccess-Control-Allow-Origin: *\r\nX-Test: 1\r\n"));
		assert_int_equal(text_count(b, strlen(b), "X-Test"), 1);
	}
	check_date(must(st, "/sub")->redirect);
	/* the 206 has the 200's lines up to Content-Length, the added ones among them */
	assert_false(has_line(file_head(e, CACHET_CODING_IDENTITY, 206, buf, sizeof(buf)),
	                      "Content-Length"));
	assert_int_equal(r->length_len, 1);
	assert_memory_equal(r->length, "5", 1);
	assert_false(has_line(block_str(&st->unsatisfiable, buf, sizeof(buf)), "X-Test"));
	assert_false(
	    has_line(block_str(&cachet_store_error(st, 404)->block, buf, sizeof(buf)), "X-Test"));
	cachet_store_unref(st);

	/* Without the option, nothing is added. */
	const struct cachet_store *plain = build(t);
	e = must(plain, "/a.txt");
	assert_false(
	    has_line(file_head(e, CACHET_CODING_IDENTITY, 200, buf, sizeof(buf)), "X-Test"));
}

/* ---- files that change between the listing and the read (race hooks) ---- */

enum swap_kind { SWAP_LINK_OUT, SWAP_FIFO, SWAP_GROW, SWAP_RENAME };

struct swap {
	const struct tree *t;
	enum swap_kind kind;
	int done;
};

/* Changes ROOT/victim.txt once, at the moment the store is about to open (stage 0) or read
 * (stage 1) it: what an attacker or a deploy could do in that window. */
static void swap_hook(void *arg, const char *name, int stage)
{
	struct swap *w = arg;
	char p[PATH_MAX], q[PATH_MAX];
	if (w->done || strcmp(name, "victim.txt") != 0)
		return;
	snprintf(p, sizeof(p), "%s/victim.txt", w->t->root);
	if (stage == 0 && (w->kind == SWAP_LINK_OUT || w->kind == SWAP_FIFO)) {
		w->done = 1;
		assert_int_equal(unlink(p), 0);
		snprintf(q, sizeof(q), "%s/secret.txt", w->t->outside);
		if (w->kind == SWAP_LINK_OUT)
			assert_int_equal(symlink(q, p), 0);
		else
			assert_int_equal(mkfifo(p, 0644), 0);
	} else if (stage == 1 && w->kind == SWAP_GROW) {
		w->done = 1; /* rewritten in place, longer: the first read sees a stale size */
		put(w->t, "victim.txt", "inside, and then some more");
	} else if (stage == 1 && w->kind == SWAP_RENAME) {
		w->done = 1; /* a deploy renames a new file over it: the open one stays whole */
		snprintf(q, sizeof(q), "%s/new.tmp", w->t->root);
		put(w->t, q, "new");
		assert_int_equal(rename(q, p), 0);
	}
}

static struct cachet_store *build_swapped(struct tree *t, enum swap_kind kind)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/secret.txt", t->outside);
	put(t, p, "outside");
	put(t, "victim.txt", "inside");
	put(t, "other.txt", "other");
	struct swap w = {.t = t, .kind = kind};
	struct cachet_store_options opt = {.race_hook = swap_hook, .race_hook_arg = &w};
	cachet_store_unref(t->st);
	t->st = NULL;
	alarm(10); /* a blocked open fails the test instead of hanging the run */
	int rc = cachet_store_build(t->root, NULL, &opt, &t->st, t->err, sizeof(t->err));
	alarm(0);
	if (rc != 0)
		print_error("build failed: %d %s\n", rc, t->err);
	assert_int_equal(rc, 0);
	assert_int_equal(w.done, 1);
	must(t->st, "/other.txt");
	return t->st;
}

static void test_race_link_swapped_in(void **state)
{
	struct tree *t = *state;
	const struct cachet_entry *e = look(build_swapped(t, SWAP_LINK_OUT), "/victim.txt");
	if (e)
		print_error("served %.*s\n", (int)e->repr[0].body_len, e->repr[0].body);
	assert_null(e); /* a link to outside ROOT is never followed */
}

static void test_race_fifo_swapped_in(void **state)
{
	struct tree *t = *state;
	assert_null(look(build_swapped(t, SWAP_FIFO), "/victim.txt"));
}

static void test_race_file_grows_while_read(void **state)
{
	struct tree *t = *state;
	static const char whole[] = "inside, and then some more";
	const struct cachet_entry *e = must(build_swapped(t, SWAP_GROW), "/victim.txt");
	const struct cachet_repr *r = &e->repr[CACHET_CODING_IDENTITY];
	assert_int_equal(r->body_len, sizeof(whole) - 1);
	assert_memory_equal(r->body, whole, sizeof(whole) - 1);
	char tag[CACHET_ETAG_MAX];
	size_t n = cachet_etag_from_bytes(whole, sizeof(whole) - 1, tag);
	assert_int_equal(r->etag_len, n);
	assert_memory_equal(r->etag, tag, n);
	char buf[2048];
	assert_true(has_line(file_head(e, CACHET_CODING_IDENTITY, 200, buf, sizeof(buf)),
	                     "\r\nContent-Length: 26\r\n"));
}

static void test_race_file_renamed_over(void **state)
{
	struct tree *t = *state;
	const struct cachet_entry *e = must(build_swapped(t, SWAP_RENAME), "/victim.txt");
	const struct cachet_repr *r = &e->repr[CACHET_CODING_IDENTITY];
	/* the file that was opened, whole (the new one is picked up by the next rescan) */
	assert_int_equal(r->body_len, 6);
	assert_memory_equal(r->body, "inside", 6);
}

/* A bundler rewrites every file (new inode, new mtime) with mostly the same bytes: the rewritten
 * ones reuse blob, ETag, variants and blocks; a moved file reuses its bytes under its new path. */
static void test_reuse_by_content(void **state)
{
	struct tree *t = *state;
	static const enum cachet_coding gz[] = {CACHET_CODING_GZIP};
	char big[4096];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = "abcdefgh   \n"[i % 12];
	put_file(t, "app.js", big, sizeof(big));
	put(t, "keep.txt", "keep");
	put(t, "move.txt", "moving bytes");
	put(t, "twin1.txt", "twins");
	put(t, "twin2.txt", "twins");
	set_mtime(t, "app.js", 1600000000, 0);
	struct cachet_store_options opt = {.codings = gz, .n_codings = 1};
	struct cachet_store *g1 = NULL, *g2 = NULL;
	assert_int_equal(cachet_store_build(t->root, NULL, &opt, &g1, t->err, sizeof(t->err)), 0);
	assert_int_equal(g1->reread, 5);
	/* identical files in one tree share one blob */
	assert_ptr_equal(must(g1, "/twin1.txt")->blob, must(g1, "/twin2.txt")->blob);
	const struct cachet_entry *a1 = must(g1, "/app.js");
	assert_true(a1->available & (1u << CACHET_CODING_GZIP));
	int64_t lm1 = a1->last_modified;

	/* rewrite app.js as a new file renamed over the old one, later mtime; move move.txt */
	char p[PATH_MAX], q[PATH_MAX];
	put_file(t, "app.js.tmp", big, sizeof(big));
	set_mtime(t, "app.js.tmp", 1700000000, 0);
	snprintf(p, sizeof(p), "%s/app.js.tmp", t->root);
	snprintf(q, sizeof(q), "%s/app.js", t->root);
	assert_int_equal(rename(p, q), 0);
	snprintf(p, sizeof(p), "%s/move.txt", t->root);
	snprintf(q, sizeof(q), "%s/moved.txt", t->root);
	assert_int_equal(rename(p, q), 0);
	assert_int_equal(cachet_store_build(t->root, g1, &opt, &g2, t->err, sizeof(t->err)), 0);
	const struct cachet_entry *a2 = must(g2, "/app.js");
	assert_ptr_equal(a2->blob, a1->blob);
	assert_int_equal(a2->last_modified, lm1); /* the representation did not change */
	char h1[2048], h2[2048];
	assert_int_equal(a2->available, a1->available);
	for (unsigned c = 0; c < CACHET_CODING_COUNT; c++) { /* bytes shared, heads the same */
		if (!(a1->available & (1u << c)))
			continue;
		assert_ptr_equal(cachet_entry_repr(a2, c)->body, cachet_entry_repr(a1, c)->body);
		assert_string_equal(file_head(a2, c, 200, h2, sizeof(h2)),
		                    file_head(a1, c, 200, h1, sizeof(h1)));
		assert_string_equal(file_head(a2, c, 304, h2, sizeof(h2)),
		                    file_head(a1, c, 304, h1, sizeof(h1)));
	}
	assert_ptr_equal(must(g2, "/moved.txt")->blob, must(g1, "/move.txt")->blob);
	assert_null(look(g2, "/move.txt"));
	assert_string_equal(file_head(must(g2, "/keep.txt"), 0, 200, h2, sizeof(h2)),
	                    file_head(must(g1, "/keep.txt"), 0, 200, h1, sizeof(h1)));
	assert_int_equal(g2->reread, 2);    /* app.js and moved.txt */
	assert_int_equal(g2->identical, 1); /* app.js */
	cachet_store_unref(g1);
	/* what g2 shares outlives g1 (ASan checks the reads) */
	char buf[2048];
	assert_true(has_line(file_head(a2, CACHET_CODING_GZIP, 200, buf, sizeof(buf)),
	                     "Content-Encoding: gzip"));
	cachet_store_unref(g2);
}

/* Serve first, compress after: a deferred build serves identity with Vary where variants will
 * come; compress + derive publish the same files with their variants and the same identity
 * ETags; a file whose variants were not worth keeping loses its Vary. */
static void test_deferred_variants(void **state)
{
	struct tree *t = *state;
	static const enum cachet_coding gz[] = {CACHET_CODING_GZIP};
	char big[4096];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = "abcdefgh   \n"[i % 12];
	put_file(t, "app.js", big, sizeof(big));
	put(t, "tiny.txt", "tiny");
	put(t, "img.png", "not text");
	struct cachet_store_options opt = {.generation = 1,
	                                   .codings = gz,
	                                   .n_codings = 1,
	                                   .defer_variants = true,
	                                   .extra_headers = "X-Test: 1\r\n"};
	struct cachet_store *g1 = NULL, *g2 = NULL;
	assert_int_equal(cachet_store_build(t->root, NULL, &opt, &g1, t->err, sizeof(t->err)), 0);
	assert_int_equal(g1->pending, 2); /* app.js and tiny.txt; not the image */
	char buf[2048];
	const struct cachet_entry *a1 = must(g1, "/app.js"), *t1 = must(g1, "/tiny.txt");
	assert_int_equal(a1->available, 1u << CACHET_CODING_IDENTITY);
	assert_true(has_line(file_head(a1, 0, 200, buf, sizeof(buf)), "Vary: Accept-Encoding"));
	assert_true(has_line(file_head(t1, 0, 304, buf, sizeof(buf)), "Vary:"));
	assert_false(has_line(file_head(must(g1, "/img.png"), 0, 200, buf, sizeof(buf)), "Vary:"));

	atomic_bool cancel = true; /* a stop during compression: given up before the next file */
	assert_int_equal(cachet_store_compress(g1, 2, &cancel), -ECANCELED);
	assert_int_not_equal(a1->blob->pending, 0);
	assert_int_equal(cachet_store_compress(g1, 2, NULL), 2);
	assert_int_equal(a1->blob->pending, 0);
	assert_int_equal(cachet_store_derive(g1, 2, &g2), 0);
	assert_int_equal(g2->generation, 2);
	assert_int_equal(g2->pending, 0);
	assert_int_equal(g2->files, 3);
	const struct cachet_entry *a2 = must(g2, "/app.js"), *t2 = must(g2, "/tiny.txt");
	assert_true(a2->available & (1u << CACHET_CODING_GZIP));
	assert_int_equal(a2->repr[0].etag_len, a1->repr[0].etag_len);
	assert_memory_equal(a2->repr[0].etag, a1->repr[0].etag, a1->repr[0].etag_len);
	assert_true(has_line(file_head(a2, CACHET_CODING_GZIP, 200, buf, sizeof(buf)),
	                     "Content-Encoding: gzip"));
	/* the derived generation keeps the build's --add-header lines */
	assert_true(
	    has_line(file_head(a2, CACHET_CODING_GZIP, 304, buf, sizeof(buf)), "X-Test: 1"));
	assert_true(has_line(file_head(t2, 0, 200, buf, sizeof(buf)), "X-Test: 1"));
	assert_int_equal(t2->available, 1u << CACHET_CODING_IDENTITY); /* not worth it */
	assert_false(has_line(file_head(t2, 0, 200, buf, sizeof(buf)), "Vary:"));
	/* the generation that served first is still whole until dropped (ASan checks) */
	assert_true(has_line(file_head(a1, 0, 200, buf, sizeof(buf)), "ETag: \""));
	cachet_store_unref(g1);
	assert_memory_equal(a2->repr[0].body, big, sizeof(big));
	cachet_store_unref(g2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tree_setup, tree_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_counts_and_dotfiles),
	    T(test_empty_root),
	    T(test_etag_deterministic),
	    T(test_ok_block),
	    T(test_not_modified_block),
	    T(test_last_modified_clamped),
	    T(test_symlinks),
	    T(test_symlink_loops_bounded),
	    T(test_depth_limit),
	    T(test_directory_index),
	    T(test_many_files),
	    T(test_blob_reuse),
	    T(test_reuse_by_content),
	    T(test_deferred_variants),
	    T(test_limits),
	    T(test_missing_root),
	    T(test_error_blocks),
	    T(test_refcount),
	    T(test_extra_headers),
	    T(test_race_link_swapped_in),
	    T(test_race_fifo_swapped_in),
	    T(test_race_file_grows_while_read),
	    T(test_race_file_renamed_over),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
