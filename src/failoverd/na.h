/* na: unsolicited neighbour advertisements for an IPv6 VIP, the IPv6
 * counterpart of gratuitous ARP (RFC 4861 section 7.2.6).  na_build is pure
 * (unit-tested); na_open/na_send do the I/O over a raw ICMPv6 socket, which
 * needs CAP_NET_RAW only when it is opened.  The kernel fills in the IPv6
 * header (source: the interface's link-local address) and the ICMPv6
 * checksum; the hop limit is set to 255, as receivers require. */
#ifndef FAILOVERD_NA_H
#define FAILOVERD_NA_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define NA_LEN 32       /* ICMPv6 NA (24) + target link-layer address option (8) */

/* Build an unsolicited NA for target (Override set, Router and Solicited
 * clear) with mac in the target link-layer address option.  The checksum
 * field is left 0 for the kernel.  Returns NA_LEN or -ENOBUFS. */
int na_build(uint8_t *buf, size_t len, const uint8_t mac[6],
	     const struct in6_addr *target);

/* Open a send-only raw ICMPv6 socket bound to ifindex with hop limit 255.
 * Returns the fd (O_CLOEXEC) or a negative errno. */
int na_open(int ifindex);

/* Send one packet built by na_build to all nodes (ff02::1) on ifindex.
 * 0 or a negative errno. */
int na_send(int fd, int ifindex, const uint8_t *pkt, size_t len);

#endif
