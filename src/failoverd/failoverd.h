/* failoverd: the daemon's shared state, seen by failoverd.c (main, event
 * loop, takeover sequence) and control.c (control socket). */
#ifndef FAILOVERD_FAILOVERD_H
#define FAILOVERD_FAILOVERD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "conf.h"
#include "fsm.h"
#include "garp.h"
#include "hb.h"
#include "na.h"

struct sd_event;
struct sd_event_source;
struct vip;
struct link_mon;
struct pos;
struct hbtx;
struct notify;

#define FO_SEQ_MAX 8    /* sequences waiting behind a running notify hook */

struct fo {
	struct conf conf;
	const struct conf_failover *fc;     /* &conf.failover */
	struct fsm fsm;
	uint8_t *key;
	size_t key_len;
	char *state_path;
	char *ctl_path;

	int hb_fd, ctl_fd, garp_fd, na_fd, ifindex;
	uint64_t seq;                   /* the first sequence number */
	struct hbtx *tx;                /* heartbeat sender threads */
	struct hb_rx rx;
	uint64_t hb_gaps;               /* rx gaps > 2 intervals */
	uint64_t stalls;                /* the loop woke >= interval / 2 late */
	uint8_t mac[6];
	/* the announcement: gratuitous ARP (IPv4 VIP) or unsolicited NA (IPv6) */
	uint8_t garp_pkt[GARP_LEN > NA_LEN ? GARP_LEN : NA_LEN];
	size_t garp_len;
	unsigned garp_left;
	uint64_t garp_sent;

	struct vip *vip;
	struct link_mon *lm;
	struct pos *pos;                /* replication position fetcher, may be NULL */
	bool link_up;

	/* Takeover and release sequences run one at a time, in order: a
	 * sequence that ends with the notify hook is complete only when the
	 * hook has exited or was killed at notify_timeout_ms; later sequences
	 * wait in seq_q meanwhile (heartbeats do not). */
	struct fsm_out seq_q[FO_SEQ_MAX];
	unsigned seq_head, seq_n;
	pid_t hook_pid;
	enum fsm_state hook_state;
	struct notify *notify;          /* [node] notify, when not [failover] notify */
	bool hook_killed;
	int64_t seq_t0_ms;

	pid_t check_pid;
	int64_t check_started_ms;
	bool check_ok;

	struct sd_event *ev;
	struct sd_event_source *tick_timer, *garp_timer, *check_timer;
	struct sd_event_source *hook_child, *hook_timer;
};

int64_t fo_now_ms(void);
/* Feed one event to the fsm and carry out its actions, in order. */
int fo_step(struct fo *fo, enum fsm_event_type type, const struct fsm_peer *peer);
/* A verified heartbeat that arrived at heard_ms (monotonic). */
void fo_step_hb(struct fo *fo, const struct fsm_peer *peer, int64_t heard_ms);
/* Control socket: open (0 or -errno) and the line protocol. */
int control_open(struct fo *fo);
int control_on_ready(struct fo *fo);
void control_close(struct fo *fo);

#endif
