/* garp: gratuitous ARP (see garp.h). */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "garp.h"

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

int garp_build(uint8_t *buf, size_t len, const uint8_t mac[6], struct in_addr ip)
{
	uint8_t *p = buf;

	if (len < GARP_LEN)
		return -ENOBUFS;
	memset(p, 0xff, 6);                     /* Ethernet: broadcast */
	memcpy(p + 6, mac, 6);
	p = put16(p + 12, ETH_P_ARP);
	p = put16(p, ARPHRD_ETHER);             /* ARP: Ethernet / IPv4 */
	p = put16(p, ETH_P_IP);
	*p++ = 6;
	*p++ = 4;
	p = put16(p, ARPOP_REQUEST);
	memcpy(p, mac, 6);                      /* sender: our MAC, the VIP */
	memcpy(p + 6, &ip.s_addr, 4);
	memset(p + 10, 0, 6);                   /* target: unknown MAC, the VIP */
	memcpy(p + 16, &ip.s_addr, 4);
	return GARP_LEN;
}

int garp_open(const char *ifname, int *ret_ifindex, uint8_t ret_mac[6])
{
	struct ifreq ifr;
	unsigned idx;
	int fd, r;

	if (strlen(ifname) >= sizeof(ifr.ifr_name))
		return -ENAMETOOLONG;
	idx = if_nametoindex(ifname);
	if (idx == 0)
		return -errno;
	/* protocol 0: this socket receives nothing, it only sends */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	memcpy(ret_mac, ifr.ifr_hwaddr.sa_data, 6);
	*ret_ifindex = (int)idx;
	return fd;
}

int garp_send(int fd, int ifindex, const uint8_t *pkt, size_t len)
{
	struct sockaddr_ll sll;

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ARP);
	sll.sll_ifindex = ifindex;
	sll.sll_halen = 6;
	memset(sll.sll_addr, 0xff, 6);
	if (sendto(fd, pkt, len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	return 0;
}
