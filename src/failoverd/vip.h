/* vip: add, remove and look for the virtual IP on an interface through
 * rtnetlink (libnl-route).  One of the two files that include libnl
 * headers (with link.c); callers see plain errno values.
 * Needs CAP_NET_ADMIN in the calling process for add and remove. */
#ifndef FAILOVERD_VIP_H
#define FAILOVERD_VIP_H

#include <netinet/in.h>

struct vip;

/* cidr like "192.0.2.100/24" or "2001:db8::100/64" (IPv6 VIPs are added
 * without duplicate address detection, IFA_F_NODAD).  0 or -errno
 * (-EINVAL bad address, -ENODEV unknown interface). */
int vip_new(const char *ifname, const char *cidr, struct vip **ret);
void vip_free(struct vip *v);                  /* NULL is a no-op */

int vip_add(struct vip *v);                    /* already present: 0 */
int vip_del(struct vip *v);                    /* already absent: 0 */
int vip_present(struct vip *v);                /* 1, 0 or -errno */
int vip_family(const struct vip *v);           /* AF_INET or AF_INET6 */
struct in_addr vip_in4(const struct vip *v);   /* AF_INET only */
struct in6_addr vip_in6(const struct vip *v);  /* AF_INET6 only */

#endif
