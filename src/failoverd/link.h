/* link: watch the carrier of our own interface through rtnetlink link
 * notifications (libnl-route).  Own link down means FAULT. */
#ifndef FAILOVERD_LINK_H
#define FAILOVERD_LINK_H

struct link_mon;

int link_mon_new(const char *ifname, struct link_mon **ret);   /* 0 or -errno */
void link_mon_free(struct link_mon *lm);                        /* NULL no-op */
/* The fd to poll for readability (owned by lm, O_CLOEXEC, non-blocking). */
int link_mon_fd(const struct link_mon *lm);
/* Consume pending notifications (call when the fd is readable). */
void link_mon_drain(struct link_mon *lm);
/* 1 when the interface is up with carrier, 0 when not, or -errno. */
int link_mon_is_up(struct link_mon *lm);

#endif
