/* fuzz_h2.c - libFuzzer target for the HTTP/2 input path (cachet_h2_input and everything behind
 * it: frames, HPACK decoding, stream states, flow control, answers from a small store).
 *
 * The preface is put in front of the input (after its first byte), which is then fed in pieces
 * whose sizes come from its first byte, with the output drained between pieces as a worker would
 * (sometimes only in part). Checks: input is consumed within bounds, the output is a sequence of
 * well-formed frames no longer than the output buffer, and every generation pin is released at the
 * end.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachet/h2.h"
#include "cachet/h2_frame.h"
#include "cachet/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cachet_store *store;
static long pins;

static void check(int cond)
{
	if (!cond)
		abort();
}

static void pin(void *w, struct cachet_store *gen)
{
	(void)w;
	check(gen == store);
	pins++;
}

static void unpin(void *w, struct cachet_store *gen)
{
	(void)w;
	check(gen == store && pins > 0);
	pins--;
}

static char *buf_get(void *w)
{
	(void)w;
	return malloc(32768);
}

static void buf_put(void *w, char *buf)
{
	(void)w;
	free(buf);
}

static void put_file(const char *dir, const char *name, size_t n)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	check(f != NULL);
	for (size_t i = 0; i < n; i++)
		fputc('a' + (int)(i % 26), f);
	fclose(f);
}

static void init(void)
{
	char root[] = "/tmp/cachet_fuzz_h2.XXXXXX";
	check(mkdtemp(root) != NULL);
	put_file(root, "index.html", 100);
	put_file(root, "big.bin", 70000);
	struct cachet_store_options opt = {.generation = 1};
	char err[256];
	check(cachet_store_build(root, NULL, &opt, &store, err, sizeof(err)) == 0);
	char cmd[64 + sizeof(root)];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	check(system(cmd) == 0);
}

/* Takes the output as sent; with partial, only half of it (a short send). Frames are checked on
 * the whole output once it has all been taken. */
static uint8_t seen[1 << 22];
static size_t seen_len;

static void drain(struct cachet_h2 *h, int partial)
{
	for (int rounds = 0; cachet_h2_has_output(h) && rounds < 100000; rounds++) {
		unsigned n;
		const struct iovec *iov = cachet_h2_iov(h, &n);
		check(n > 0 && n <= CACHET_H2_IOV_MAX);
		size_t total = 0;
		for (unsigned i = 0; i < n; i++)
			total += iov[i].iov_len;
		check(total <= 65536 + 70000);
		size_t take = partial ? (total + 1) / 2 : total;
		size_t left = take;
		for (unsigned i = 0; i < n && left; i++) {
			size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
			if (seen_len + k <= sizeof(seen)) {
				memcpy(seen + seen_len, iov[i].iov_base, k);
				seen_len += k;
			}
			left -= k;
		}
		cachet_h2_sent(h, take);
	}
}

static void check_frames(void)
{
	size_t off = 0;
	while (off < seen_len) {
		struct cachet_h2_frame f;
		int n = cachet_h2_frame_next(seen + off, seen_len - off, 1u << 24, &f);
		if (n == 0)
			break; /* the buffer cap cut the last one */
		check(n > 0);
		check(f.len <= 70000); /* nothing is longer than the largest body */
		off += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!store)
		init();
	struct cachet_h2_env env = {.worker = NULL,
	                            .gen = store,
	                            .date = "Sun, 06 Nov 1994 08:49:37 GMT",
	                            .now_ms = 5000,
	                            .pin = pin,
	                            .unpin = unpin,
	                            .buf_get = buf_get,
	                            .buf_put = buf_put,
	                            .buf_size = 32768};
	struct cachet_h2 *h = cachet_h2_new(&env);
	check(h != NULL);
	seen_len = 0;
	/* the first byte picks the piece size and the GOAWAY; the rest follows the preface */
	unsigned piece = size ? data[0] % 64 + 1 : 1;
	uint8_t flags = size ? data[0] : 0;
	if (size) {
		data++;
		size--;
	}
	size_t total = CACHET_H2_PREFACE_LEN + size;
	uint8_t *in = malloc(total);
	check(in != NULL);
	memcpy(in, CACHET_H2_PREFACE, CACHET_H2_PREFACE_LEN);
	memcpy(in + CACHET_H2_PREFACE_LEN, data, size);
	size_t fed = 0, pending = 0, start = 0;
	for (int rounds = 0; rounds < 200000 && start < total; rounds++) {
		if (fed < total) {
			size_t k = total - fed < piece ? total - fed : piece;
			fed += k;
			pending += k;
		}
		size_t used = cachet_h2_input(h, in + start, pending);
		check(used <= pending);
		start += used;
		pending -= used;
		drain(h, rounds & 1);
		drain(h, 0);
		env.now_ms += 7;
		if (rounds % 16 == 0)
			cachet_h2_expire_stalled(h, 20);
		if (cachet_h2_closing(h))
			break;
		if (fed == total && used == 0 && !cachet_h2_has_output(h))
			break;
	}
	if (flags & 0x80)
		cachet_h2_goaway(h);
	drain(h, 0);
	check_frames();
	cachet_h2_free(h);
	check(pins == 0);
	free(in);
	return 0;
}
