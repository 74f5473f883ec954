/* vip: the VIP through libnl-route (see vip.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <linux/if_addr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>

#include "vip.h"

struct vip {
	struct nl_sock *sk;
	struct nl_addr *local;
	int family;                     /* AF_INET or AF_INET6 */
	struct in_addr in4;
	struct in6_addr in6;
	int ifindex;
};

/* libnl error codes to errno, here and nowhere else. */
static int nl_to_errno(int e)
{
	switch (e < 0 ? -e : e) {
	case 0: return 0;
	case NLE_EXIST: return -EEXIST;
	case NLE_NOADDR: return -EADDRNOTAVAIL;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_PERM: return -EPERM;
	case NLE_NODEV: return -ENODEV;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_INVAL: return -EINVAL;
	case NLE_BUSY: return -EBUSY;
	default: return -EIO;
	}
}

static int parse(struct vip *v, const char *cidr)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(cidr, '/');
	size_t n = slash ? (size_t)(slash - cidr) : strlen(cidr);

	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, cidr, n);
	host[n] = '\0';
	v->family = strchr(host, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(v->family, host,
		      v->family == AF_INET ? (void *)&v->in4 : (void *)&v->in6) != 1)
		return -EINVAL;
	if (nl_addr_parse(cidr, v->family, &v->local) < 0)
		return -EINVAL;
	if (!slash)
		nl_addr_set_prefixlen(v->local, v->family == AF_INET ? 32 : 128);
	return 0;
}

int vip_new(const char *ifname, const char *cidr, struct vip **ret)
{
	struct vip *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	v->ifindex = (int)if_nametoindex(ifname);
	r = v->ifindex ? parse(v, cidr) : -ENODEV;
	if (r == 0) {
		v->sk = nl_socket_alloc();
		r = v->sk ? nl_to_errno(nl_connect(v->sk, NETLINK_ROUTE)) : -ENOMEM;
	}
	if (r < 0) {
		vip_free(v);
		return r;
	}
	*ret = v;
	return 0;
}

void vip_free(struct vip *v)
{
	if (!v)
		return;
	if (v->sk)
		nl_socket_free(v->sk);
	if (v->local)
		nl_addr_put(v->local);
	free(v);
}

static struct rtnl_addr *build(struct vip *v)
{
	struct rtnl_addr *a = rtnl_addr_alloc();

	if (!a)
		return NULL;
	rtnl_addr_set_ifindex(a, v->ifindex);
	rtnl_addr_set_family(a, v->family);
	/* no duplicate address detection: a tentative VIP answers nobody for
	 * a second or more, and the peer has released it (or is dead) */
	if (v->family == AF_INET6)
		rtnl_addr_set_flags(a, IFA_F_NODAD);
	if (rtnl_addr_set_local(a, v->local) < 0) {
		rtnl_addr_put(a);
		return NULL;
	}
	return a;
}

int vip_add(struct vip *v)
{
	struct rtnl_addr *a = build(v);
	int r;

	if (!a)
		return -ENOMEM;
	r = nl_to_errno(rtnl_addr_add(v->sk, a, NLM_F_CREATE | NLM_F_EXCL));
	rtnl_addr_put(a);
	return r == -EEXIST ? 0 : r;
}

int vip_del(struct vip *v)
{
	struct rtnl_addr *a = build(v);
	int r;

	if (!a)
		return -ENOMEM;
	r = nl_to_errno(rtnl_addr_delete(v->sk, a, 0));
	rtnl_addr_put(a);
	if (r == -EADDRNOTAVAIL || r == -ENOENT)
		return 0;
	return r;
}

int vip_present(struct vip *v)
{
	struct nl_cache *cache = NULL;
	struct rtnl_addr *a;
	int r;

	r = nl_to_errno(rtnl_addr_alloc_cache(v->sk, &cache));
	if (r < 0)
		return r;
	a = rtnl_addr_get(cache, v->ifindex, v->local);
	r = a != NULL;
	if (a)
		rtnl_addr_put(a);
	nl_cache_free(cache);
	return r;
}

int vip_family(const struct vip *v)
{
	return v->family;
}

struct in_addr vip_in4(const struct vip *v)
{
	return v->in4;
}

struct in6_addr vip_in6(const struct vip *v)
{
	return v->in6;
}
