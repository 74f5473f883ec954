/* link: own-interface carrier through libnl-route (see link.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <net/if.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "link.h"

struct link_mon {
	struct nl_sock *ev;     /* RTNLGRP_LINK notifications */
	struct nl_sock *q;      /* queries */
	int ifindex;
};

static int ignore_msg(struct nl_msg *msg, void *arg)
{
	return NL_SKIP;
}

static int open_ev(struct link_mon *lm)
{
	lm->ev = nl_socket_alloc();
	if (!lm->ev)
		return -ENOMEM;
	nl_socket_disable_seq_check(lm->ev);
	if (nl_socket_modify_cb(lm->ev, NL_CB_VALID, NL_CB_CUSTOM, ignore_msg, NULL) < 0 ||
	    nl_connect(lm->ev, NETLINK_ROUTE) < 0 ||
	    nl_socket_add_membership(lm->ev, RTNLGRP_LINK) < 0 ||
	    nl_socket_set_nonblocking(lm->ev) < 0)
		return -EIO;
	return 0;
}

int link_mon_new(const char *ifname, struct link_mon **ret)
{
	struct link_mon *lm = calloc(1, sizeof(*lm));
	int r;

	if (!lm)
		return -ENOMEM;
	lm->ifindex = (int)if_nametoindex(ifname);
	r = lm->ifindex ? open_ev(lm) : -ENODEV;
	if (r == 0) {
		lm->q = nl_socket_alloc();
		r = lm->q && nl_connect(lm->q, NETLINK_ROUTE) == 0 ? 0 : -EIO;
	}
	if (r < 0) {
		link_mon_free(lm);
		return r;
	}
	*ret = lm;
	return 0;
}

void link_mon_free(struct link_mon *lm)
{
	if (!lm)
		return;
	if (lm->ev)
		nl_socket_free(lm->ev);
	if (lm->q)
		nl_socket_free(lm->q);
	free(lm);
}

int link_mon_fd(const struct link_mon *lm)
{
	return nl_socket_get_fd(lm->ev);
}

void link_mon_drain(struct link_mon *lm)
{
	/* one receive per call; the loop calls again while readable */
	(void)nl_recvmsgs_default(lm->ev);
}

int link_mon_is_up(struct link_mon *lm)
{
	struct rtnl_link *l = NULL;
	unsigned int flags;

	if (rtnl_link_get_kernel(lm->q, lm->ifindex, NULL, &l) < 0)
		return -ENODEV;
	flags = rtnl_link_get_flags(l);
	rtnl_link_put(l);
	return (flags & IFF_UP) && (flags & IFF_RUNNING);
}
