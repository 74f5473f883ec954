/* net: TCP sockets for the data connections (listen, connect with a
 * deadline).  Every fd is O_CLOEXEC; returns fds or negative errno. */
#ifndef MIRROR_NET_H
#define MIRROR_NET_H

#include <stdbool.h>
#include <sys/socket.h>

int net_listen(const struct sockaddr *sa, socklen_t len, int backlog);
/* Connect within timeout_ms; the returned fd is blocking. */
int net_connect(const struct sockaddr *sa, socklen_t len, int timeout_ms);
int net_set_nonblock(int fd, bool on);
/* "a.b.c.d:port" / "[v6]:port" of a peer, into buf (always terminated). */
void net_peer_name(int fd, char *buf, size_t len);

#endif
