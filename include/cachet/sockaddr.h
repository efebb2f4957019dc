/* sockaddr.h - one socket address of any family cachet listens on. */
#ifndef CACHET_SOCKADDR_H
#define CACHET_SOCKADDR_H

#include <netinet/in.h>
#include <sys/socket.h>

/**
 * An address read and written through the member of its family (nginx's ngx_sockaddr_t): never
 * a cast of a sockaddr_storage to another struct, which strict aliasing lets the compiler
 * reorder (at -O2 a port read that way once came out 0). Pass &u.sa to the socket calls.
 */
union cachet_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

/** The port in network order (0 for a family without one). */
static inline in_port_t cachet_sockaddr_port(const union cachet_sockaddr *a)
{
	switch (a->sa.sa_family) {
	case AF_INET:
		return a->in.sin_port;
	case AF_INET6:
		return a->in6.sin6_port;
	default:
		return 0;
	}
}

#endif
