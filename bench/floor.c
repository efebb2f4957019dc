/*
 * floor.c - reference responder for bench/run: the cost floor for one core.
 *
 * No HTTP parsing at all.  One io_uring, one multishot accept on one listening
 * socket, one fixed receive buffer per connection with plain recv.  For every
 * recv completion it counts the request terminators ("\r\n\r\n", tracked
 * across recv boundaries) and answers with that many copies of one fixed
 * "304 Not Modified" block in a single send.  Whatever cachet spends per 304
 * beyond this is parsing, lookup, header building and bookkeeping.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING_ENTRIES 1024
#define RECV_BUF 65536

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3, OP_CLOSE = 4 };

struct conn {
    int fd;
    int state;          /* how many bytes of "\r\n\r\n" matched so far */
    char *sbuf;         /* outgoing responses */
    size_t scap, slen, soff;
    char rbuf[RECV_BUF];
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static char resp[256];
static size_t resp_len;
static time_t resp_sec = -1;
/* Position of the 29-byte IMF-fixdate inside resp. */
static size_t date_off;

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

static inline uint64_t ud(struct conn *c, int op) { return (uint64_t)(uintptr_t)c | (uint64_t)op; }

static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) {
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
    }
    if (!sqe) {
        fprintf(stderr, "floor: no sqe\n");
        exit(1);
    }
    return sqe;
}

static void arm_accept(struct io_uring *ring, int lfd)
{
    struct io_uring_sqe *sqe = get_sqe(ring);
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, OP_ACCEPT);
}

static void arm_recv(struct io_uring *ring, struct conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(ring);
    io_uring_prep_recv(sqe, c->fd, c->rbuf, RECV_BUF, 0);
    io_uring_sqe_set_data64(sqe, ud(c, OP_RECV));
}

static void arm_send(struct io_uring *ring, struct conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(ring);
    io_uring_prep_send(sqe, c->fd, c->sbuf + c->soff, c->slen - c->soff, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud(c, OP_SEND));
}

static void close_conn(struct io_uring *ring, struct conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(ring);
    io_uring_prep_close(sqe, c->fd);
    io_uring_sqe_set_data64(sqe, OP_CLOSE);
    free(c->sbuf);
    free(c);
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
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 4096) < 0) {
        perror("bind/listen");
        return 1;
    }

    struct io_uring ring;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
    int ret = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
    if (ret < 0) {
        memset(&p, 0, sizeof p);
        ret = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
    }
    if (ret < 0) {
        fprintf(stderr, "floor: io_uring_queue_init: %s\n", strerror(-ret));
        return 1;
    }
    arm_accept(&ring, lfd);
    fprintf(stderr, "floor: listening on 127.0.0.1:%d\n", port);

    while (!stop) {
        struct io_uring_cqe *cqe;
        ret = io_uring_submit_and_wait(&ring, 1);
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
            fprintf(stderr, "floor: submit_and_wait: %s\n", strerror(-ret));
            break;
        }
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t data = io_uring_cqe_get_data64(cqe);
            int op = (int)(data & 7);
            struct conn *c = (struct conn *)(uintptr_t)(data & ~(uint64_t)7);
            int res = cqe->res;
            switch (op) {
            case OP_ACCEPT:
                if (res >= 0) {
                    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = aligned_alloc(8, sizeof *nc);
                    if (!nc) {
                        close(res);
                        break;
                    }
                    nc->fd = res;
                    nc->state = 0;
                    nc->sbuf = NULL;
                    nc->scap = nc->slen = nc->soff = 0;
                    arm_recv(&ring, nc);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE))
                    arm_accept(&ring, lfd);
                break;
            case OP_RECV: {
                if (res <= 0) {
                    close_conn(&ring, c);
                    break;
                }
                size_t n = count_requests(c, c->rbuf, (size_t)res);
                if (n == 0) {
                    arm_recv(&ring, c);
                    break;
                }
                refresh_date();
                size_t need = n * resp_len;
                if (need > c->scap) {
                    free(c->sbuf);
                    c->scap = need < 4096 ? 4096 : need;
                    c->sbuf = malloc(c->scap);
                    if (!c->sbuf) {
                        close_conn(&ring, c);
                        break;
                    }
                }
                for (size_t i = 0; i < n; i++)
                    memcpy(c->sbuf + i * resp_len, resp, resp_len);
                c->slen = need;
                c->soff = 0;
                arm_send(&ring, c);
                break;
            }
            case OP_SEND:
                if (res < 0) {
                    close_conn(&ring, c);
                    break;
                }
                c->soff += (size_t)res;
                if (c->soff < c->slen)
                    arm_send(&ring, c);
                else
                    arm_recv(&ring, c);
                break;
            default:
                break;
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    io_uring_queue_exit(&ring);
    close(lfd);
    return 0;
}
