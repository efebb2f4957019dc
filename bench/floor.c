/*
 * floor.c - reference responder for bench/run: the cost floor for one core.
 *
 * No HTTP parsing at all.  One io_uring (SINGLE_ISSUER|DEFER_TASKRUN where the
 * kernel has them), one multishot accept on one listening socket, one
 * multishot recv per connection into a provided-buffer ring.  For every recv
 * completion it counts the request terminators ("\r\n\r\n", tracked across
 * recv boundaries) and answers with that many copies of one fixed
 * "304 Not Modified" block in a single send (while a send is in flight, new
 * requests are counted and go out in the next one).  Whatever a server spends
 * per 304 beyond this is parsing, lookup, header building and bookkeeping.
 *
 * Build: cc -O2 bench/floor.c -luring -o floor       (liburing >= 2.2)
 * Run:   floor PORT            (listens on 127.0.0.1:PORT, SIGTERM/SIGINT stop)
 */
#define _GNU_SOURCE
#include <liburing.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SQ_ENTRIES 1024
#define CQ_ENTRIES 8192
#define BUF_COUNT  1024 /* power of two */
#define BUF_SIZE   4096
#define BUF_GROUP  0

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3, OP_CLOSE = 4 };

struct conn {
	int fd;
	int state;         /* bytes of "\r\n\r\n" matched so far */
	int recv_armed;    /* a multishot recv is outstanding */
	int send_inflight; /* a send is outstanding */
	int dead;          /* peer gone or error: free once nothing is outstanding */
	size_t pending;    /* requests counted, not yet answered */
	char *sbuf;        /* outgoing responses */
	size_t scap, slen, soff;
};

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static unsigned br_mask;

static char resp[256];
static size_t resp_len;
static time_t resp_sec = -1;
static size_t date_off; /* the 29-byte IMF-fixdate inside resp */

static void refresh_date(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec == resp_sec)
		return;
	resp_sec = ts.tv_sec;
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char d[64];
	strftime(d, sizeof d, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	memcpy(resp + date_off, d, 29);
}

static void build_response(void)
{
	const char *head = "HTTP/1.1 304 Not Modified\r\nServer: floor\r\nDate: ";
	const char *tail = "\r\nETag: \"00000000000000000000000000000000\"\r\n\r\n";
	date_off = strlen(head);
	resp_len = (size_t)snprintf(resp, sizeof resp, "%s%s%s", head,
	                            "Thu, 01 Jan 1970 00:00:00 GMT", tail);
	refresh_date();
}

static inline uint64_t ud(struct conn *c, int op)
{
	return (uint64_t)(uintptr_t)c | (uint64_t)op;
}

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	if (!sqe) {
		fprintf(stderr, "floor: no sqe\n");
		exit(1);
	}
	return sqe;
}

static void arm_accept(int lfd)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
	io_uring_sqe_set_data64(sqe, OP_ACCEPT);
}

static void arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BUF_GROUP;
	io_uring_sqe_set_data64(sqe, ud(c, OP_RECV));
	c->recv_armed = 1;
}

static void arm_send(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_send(sqe, c->fd, c->sbuf + c->soff, c->slen - c->soff, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud(c, OP_SEND));
	c->send_inflight = 1;
}

/* Free the connection once the kernel holds no reference to it. */
static void maybe_free(struct conn *c)
{
	if (!c->dead || c->recv_armed || c->send_inflight)
		return;
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, OP_CLOSE);
	free(c->sbuf);
	free(c);
}

static void kill_conn(struct conn *c)
{
	if (!c->dead) {
		c->dead = 1;
		if (c->recv_armed)
			shutdown(c->fd, SHUT_RDWR); /* ends the multishot recv */
	}
	maybe_free(c);
}

/* Answer every counted request with one send. */
static void flush(struct conn *c)
{
	if (c->send_inflight || c->dead || c->pending == 0)
		return;
	refresh_date();
	size_t need = c->pending * resp_len;
	if (need > c->scap) {
		free(c->sbuf);
		c->scap = need < 4096 ? 4096 : need;
		c->sbuf = malloc(c->scap);
		if (!c->sbuf) {
			fprintf(stderr, "floor: out of memory\n");
			exit(1);
		}
	}
	for (size_t i = 0; i < c->pending; i++)
		memcpy(c->sbuf + i * resp_len, resp, resp_len);
	c->slen = need;
	c->soff = 0;
	c->pending = 0;
	arm_send(c);
}

/* Count "\r\n\r\n" in buf, continuing the match state across calls. */
static size_t count_requests(struct conn *c, const char *buf, size_t n)
{
	static const char pat[4] = {'\r', '\n', '\r', '\n'};
	size_t count = 0;
	int st = c->state;
	for (size_t i = 0; i < n; i++) {
		char ch = buf[i];
		if (ch == pat[st]) {
			if (++st == 4) {
				count++;
				st = 0;
			}
		} else {
			st = (ch == '\r') ? 1 : 0;
		}
	}
	c->state = st;
	return count;
}

static void buf_return(unsigned bid, int *added)
{
	io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
	                      br_mask, (*added)++);
}

static int setup_ring(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
	          IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
	p.cq_entries = CQ_ENTRIES;
	int ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof p);
		p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE;
		p.cq_entries = CQ_ENTRIES;
		ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	}
	if (ret < 0) {
		fprintf(stderr, "floor: io_uring_queue_init: %s\n", strerror(-ret));
		return -1;
	}
	/* liburing 2.3 has no io_uring_setup_buf_ring(): map a page-aligned ring, register it. */
	size_t ring_bytes = BUF_COUNT * sizeof(struct io_uring_buf);
	void *mem =
	    mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	br = mem;
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof reg);
	reg.ring_addr = (uintptr_t)mem;
	reg.ring_entries = BUF_COUNT;
	reg.bgid = BUF_GROUP;
	ret = io_uring_register_buf_ring(&ring, &reg, 0);
	if (ret < 0) {
		fprintf(stderr, "floor: io_uring_register_buf_ring: %s\n", strerror(-ret));
		return -1;
	}
	io_uring_buf_ring_init(br);
	br_mask = io_uring_buf_ring_mask(BUF_COUNT);
	bufs = malloc((size_t)BUF_COUNT * BUF_SIZE);
	if (!bufs)
		return -1;
	int added = 0;
	for (unsigned i = 0; i < BUF_COUNT; i++)
		buf_return(i, &added);
	io_uring_buf_ring_advance(br, added);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	int port = atoi(argv[1]);
	build_response();

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0) {
		perror("socket");
		return 1;
	}
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* accepted sockets inherit it */
	setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 4096) < 0) {
		perror("bind/listen");
		return 1;
	}
	if (setup_ring() < 0)
		return 1;
	arm_accept(lfd);
	fprintf(stderr, "floor: listening on 127.0.0.1:%d\n", port);

	while (!stop) {
		struct io_uring_cqe *cqe;
		int ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			fprintf(stderr, "floor: submit_and_wait: %s\n", strerror(-ret));
			break;
		}
		unsigned head, seen = 0;
		int added = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			seen++;
			uint64_t data = io_uring_cqe_get_data64(cqe);
			int op = (int)(data & 7);
			struct conn *c = (struct conn *)(uintptr_t)(data & ~(uint64_t)7);
			int res = cqe->res;
			int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
			switch (op) {
			case OP_ACCEPT:
				if (res >= 0) {
					struct conn *nc = calloc(1, sizeof *nc);
					if (!nc) {
						close(res);
					} else {
						nc->fd = res;
						arm_recv(nc);
					}
				}
				if (!more)
					arm_accept(lfd);
				break;
			case OP_RECV:
				if (!more)
					c->recv_armed = 0;
				if (cqe->flags & IORING_CQE_F_BUFFER) {
					unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
					if (res > 0 && !c->dead)
						c->pending += count_requests(
						    c, bufs + (size_t)bid * BUF_SIZE, (size_t)res);
					buf_return(bid, &added);
				}
				if (res == 0 || (res < 0 && res != -ENOBUFS)) {
					kill_conn(c);
					break;
				}
				flush(c);
				if (!c->recv_armed && !c->dead)
					arm_recv(c); /* ended (e.g. -ENOBUFS): re-arm */
				break;
			case OP_SEND:
				c->send_inflight = 0;
				if (res < 0 || c->dead) {
					kill_conn(c);
					break;
				}
				c->soff += (size_t)res;
				if (c->soff < c->slen)
					arm_send(c);
				else
					flush(c);
				break;
			default:
				break;
			}
		}
		if (added)
			io_uring_buf_ring_advance(br, added);
		io_uring_cq_advance(&ring, seen);
	}
	io_uring_queue_exit(&ring);
	close(lfd);
	return 0;
}
