/* garp: gratuitous ARP for the VIP.  garp_build is pure (unit-tested);
 * garp_open/garp_send do the I/O over an AF_PACKET socket, which needs
 * CAP_NET_RAW only when it is opened.  IPv6 (unsolicited neighbour
 * advertisements) is not implemented yet. */
#ifndef FAILOVERD_GARP_H
#define FAILOVERD_GARP_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define GARP_LEN 42     /* Ethernet header + ARP for IPv4 over Ethernet */

/* Build a broadcast ARP request announcing ip (sender = target = ip) from
 * mac into buf.  Returns GARP_LEN or -ENOBUFS. */
int garp_build(uint8_t *buf, size_t len, const uint8_t mac[6], struct in_addr ip);

/* Open a packet socket for ifname (send only) and read its MAC address.
 * Returns the fd (O_CLOEXEC) or a negative errno; *ret_ifindex and
 * ret_mac are written on success. */
int garp_open(const char *ifname, int *ret_ifindex, uint8_t ret_mac[6]);

/* Send one packet built by garp_build.  0 or a negative errno. */
int garp_send(int fd, int ifindex, const uint8_t *pkt, size_t len);

#endif
