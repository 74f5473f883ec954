/* na: unsolicited neighbour advertisements (see na.h). */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/icmp6.h>
#include <sys/socket.h>

#include "na.h"

int na_build(uint8_t *buf, size_t len, const uint8_t mac[6],
	     const struct in6_addr *target)
{
	if (len < NA_LEN)
		return -ENOBUFS;
	memset(buf, 0, NA_LEN);
	buf[0] = ND_NEIGHBOR_ADVERT;            /* type 136, code 0 */
	buf[4] = 0x20;                          /* flags: R=0 S=0 O=1 */
	memcpy(buf + 8, target->s6_addr, 16);
	buf[24] = ND_OPT_TARGET_LINKADDR;       /* option 2, length 1 (8 bytes) */
	buf[25] = 1;
	memcpy(buf + 26, mac, 6);
	return NA_LEN;
}

int na_open(int ifindex)
{
	struct icmp6_filter filt;
	int fd, hops = 255, r;

	fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	if (fd < 0)
		return -errno;
	ICMP6_FILTER_SETBLOCKALL(&filt);        /* it only sends */
	if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filt, sizeof(filt)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int na_send(int fd, int ifindex, const uint8_t *pkt, size_t len)
{
	struct sockaddr_in6 dst;

	memset(&dst, 0, sizeof(dst));
	dst.sin6_family = AF_INET6;
	dst.sin6_scope_id = (uint32_t)ifindex;
	if (inet_pton(AF_INET6, "ff02::1", &dst.sin6_addr) != 1)
		return -EINVAL;
	if (sendto(fd, pkt, len, 0, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		return -errno;
	return 0;
}
