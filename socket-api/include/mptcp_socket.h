/*
 * mptcp_socket.h: the C interface of the userspace MPTCP stack (libmptcp_socket.so, or the
 * LD_PRELOAD library libmptcp_preload.so behind `mptcp run`, which exports the same functions).
 *
 * Sockets are real file descriptors: each is one end of a Unix socketpair whose other end the
 * stack's I/O thread pumps into and out of the MPTCP connection. read, write, send, recv,
 * sendmsg, recvmsg, poll, select and epoll work on them unchanged; the functions below replace
 * socket, bind, connect, listen, accept, shutdown, close, getsockopt, setsockopt, getsockname
 * and getpeername. Every function returns -1 and sets errno on failure.
 *
 * The enhanced socket API of Hesmans & Bonaventure ("An enhanced socket API for Multipath TCP",
 * ANRW'16) is here with its option numbers and structures, so that its examples compile
 * unmodified, but with these behaviours defined where the paper's kernel left them open:
 *
 *  - Every MPTCP_* option fails with EOPNOTSUPP until the connection is established as MPTCP
 *    and after it fell back to TCP; ENOPROTOOPT for an unknown option; EINVAL for an unknown
 *    subflow id.
 *  - A buffer too short for the answer: EINVAL, and the length NEEDED is written to *optlen.
 *    On success *optlen is the length used. Nothing is read or written past *optlen.
 *  - MPTCP_GET_SUB_IDS fills every status bit: slave_sk = opened by MP_JOIN (0 for the initial
 *    subflow), fully_established = may carry data, attached = established and not closing,
 *    low_prio = backup (ours or the peer's choice), pre_established = handshake under way.
 *    Subflows that ended are not listed.
 *  - MPTCP_GET_SUB_TUPLE: struct mptcp_sub_tuple with id set; answers local then remote address
 *    in the subflow's family (36 bytes for IPv4, 60 for IPv6) and sets prio (1 = backup).
 *  - MPTCP_OPEN_SUB_TUPLE: the family is addrs[0]'s sin_family (AF_INET needs optlen >= 36,
 *    AF_INET6 >= 60; both addresses of that family). Local address 0.0.0.0 / :: means the
 *    stack's first path of that family, local port 0 any port; a remote address 0.0.0.0 / :: or
 *    port 0 means the initial subflow's. prio != 0 opens a backup subflow. The NEW SUBFLOW'S ID
 *    IS WRITTEN BACK into id. It returns at once: an MPTCP_EVENT_SUBFLOW_ESTABLISHED or
 *    MPTCP_EVENT_SUBFLOW_CLOSED event (mptcp_next_event) tells how the handshake went. A local
 *    address that is no path of the stack: EADDRNOTAVAIL; the subflow limit: ENOMEM; another
 *    family than AF_INET/AF_INET6: EAFNOSUPPORT. A client's request made before the connection
 *    is fully established (RFC 8684 §3.1: the server has acknowledged data at the connection
 *    level) is accepted and its id written back; the join starts once it is, and the subflow
 *    shows up in MPTCP_GET_SUB_IDS from then on.
 *  - MPTCP_CLOSE_SUB_ID: how = MPTCP_CLOSE_FIN closes gracefully, MPTCP_CLOSE_RST aborts (the
 *    paper kernel's behaviour). A 1-byte struct from older code means MPTCP_CLOSE_RST. Either
 *    way the subflow's unacknowledged data is sent again on the other subflows, and it leaves
 *    MPTCP_GET_SUB_IDS at once. Its MPTCP_EVENT_SUBFLOW_CLOSED comes at once after an abort,
 *    and after a FIN close once both FINs are exchanged (the subflow then lingers in TIME-WAIT).
 *  - MPTCP_SUB_GETSOCKOPT (getsockopt, optlen == sizeof(struct mptcp_sub_getsockopt)) and
 *    MPTCP_SUB_SETSOCKOPT (setsockopt, optlen == sizeof(struct mptcp_sub_setsockopt)) apply one
 *    inner option to one subflow: TCP_NODELAY, TCP_MAXSEG (at least 64), TCP_CONGESTION
 *    ("cubic", "reno", "lia", "olia"; unknown: ENOENT), TCP_INFO (get only), IP_TOS (level
 *    IPPROTO_IP), IPV6_TCLASS (level IPPROTO_IPV6; -1 means 0) and MPTCP_SUB_LOW_PRIO (level
 *    IPPROTO_TCP, int 0/1: backup, sent to the peer with MP_PRIO). Integer options need 4 bytes
 *    (else EINVAL with 4 in *optlen); TCP_INFO and TCP_CONGESTION copy as much as fits, like
 *    Linux.
 *  - Subflow ids: the initial subflow is 1 and 0 is never an id, as in the paper's kernel
 *    (this ABI's id is the stack's id plus one, in the structures and in events). Ids are never
 *    reused within a connection, but the paper's structures hold 8 bits: an id above 255 makes
 *    MPTCP_GET_SUB_IDS fail with EOVERFLOW instead of truncating it, and MPTCP_OPEN_SUB_TUPLE
 *    closes a subflow whose id would not fit and fails with EOVERFLOW.
 *
 * Connection-level options (on the socket itself):
 *  - TCP_NODELAY, TCP_MAXSEG, IP_TOS, IPV6_TCLASS, TCP_CONGESTION: set on every current and
 *    future subflow (before connect: kept and set from the initial subflow on); read from the
 *    initial subflow.
 *  - TCP_INFO: counters (tcpi_bytes_acked, tcpi_bytes_received, tcpi_bytes_sent,
 *    tcpi_bytes_retrans, tcpi_total_retrans, tcpi_segs_out, tcpi_segs_in) are summed over the
 *    subflows; state, rto, rtt, rttvar, snd_mss, snd_cwnd and snd_ssthresh are the initial
 *    subflow's while it is established, otherwise those of the established subflow with the
 *    lowest smoothed RTT. Times in microseconds, windows in segments.
 *  - TCP_IS_MPTCP (43, get): 1 while the connection speaks MPTCP.
 *  - SOL_SOCKET options go to the socketpair end, except SO_ERROR, SO_TYPE, SO_DOMAIN,
 *    SO_PROTOCOL and SO_ACCEPTCONN, answered for the MPTCP socket.
 *  - Options that change nothing on this stack are accepted and read back as set (0 before):
 *    TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_QUICKACK, TCP_USER_TIMEOUT,
 *    TCP_NOTSENT_LOWAT, TCP_DEFER_ACCEPT, TCP_WINDOW_CLAMP, TCP_FASTOPEN, TCP_FASTOPEN_CONNECT,
 *    TCP_CORK, TCP_LINGER2, TCP_SYNCNT, IP_RECVERR, IP_MTU_DISCOVER, IP_FREEBIND,
 *    IP_BIND_ADDRESS_NO_PORT, IPV6_V6ONLY (a listener on :: takes IPv4 too), IPV6_RECVERR,
 *    IPV6_MTU_DISCOVER. Other options: ENOPROTOOPT.
 *
 * Connecting: mptcp_connect blocks until the handshake completes (SO_SNDTIMEO bounds it, then
 * EINPROGRESS as in Linux); on an O_NONBLOCK socket it returns EINPROGRESS at once, the
 * descriptor is writable (what is written goes out once the connection is established), and
 * getsockopt(SOL_SOCKET, SO_ERROR) WAITS for the handshake's outcome and returns it. A
 * destination that no path of the stack can reach (no path of its family; loopback, multicast,
 * unspecified) fails with ENETUNREACH. The local port of a bind() before connect() is not
 * honoured (the stack picks it); the local address is. A plain TCP peer: the connection falls
 * back and works as TCP. getsockname and getpeername name the initial subflow (RFC 6897 §5).
 *
 * Closing: mptcp_close sends what was written, then a DATA_FIN. When the peer closes, reads see
 * end of file; when the connection is reset, reads see end of file and writes fail (EPIPE).
 *
 * One stack per process, started by mptcp_stack_start. A child after fork() must not call these
 * functions; the descriptors it inherited keep working as plain byte streams (data still moves
 * while the parent's stack runs).
 */
#ifndef MPTCP_SOCKET_H
#define MPTCP_SOCKET_H

#include <linux/types.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

/* Options at level IPPROTO_TCP (the paper's numbers). */
#define MPTCP_GET_SUB_IDS    66 /* getsockopt: struct mptcp_sub_ids */
#define MPTCP_CLOSE_SUB_ID   67 /* getsockopt: struct mptcp_close_sub_id */
#define MPTCP_GET_SUB_TUPLE  68 /* getsockopt: struct mptcp_sub_tuple */
#define MPTCP_OPEN_SUB_TUPLE 69 /* getsockopt: struct mptcp_sub_tuple */
#define MPTCP_SUB_GETSOCKOPT 71 /* getsockopt: struct mptcp_sub_getsockopt */
#define MPTCP_SUB_SETSOCKOPT 72 /* setsockopt: struct mptcp_sub_setsockopt */
/* Inner option of MPTCP_SUB_GETSOCKOPT / MPTCP_SUB_SETSOCKOPT, level IPPROTO_TCP, int 0/1. */
#define MPTCP_SUB_LOW_PRIO   73

/* One subflow in struct mptcp_sub_ids (2 bytes: id, then the flag bits in the next byte). */
struct mptcp_sub_status {
	__u8 id;
	__u16 slave_sk : 1, fully_established : 1, attached : 1, low_prio : 1, pre_established : 1;
};

/* MPTCP_GET_SUB_IDS: needs 2 + 2 * sub_count bytes. */
struct mptcp_sub_ids {
	__u8 sub_count;
	struct mptcp_sub_status sub_status[];
};

/* MPTCP_GET_SUB_TUPLE / MPTCP_OPEN_SUB_TUPLE: the local address in addrs[0], the remote one in
 * addrs[1]. IPv4: 4 + 2 * 16 = 36 bytes. IPv6: two struct sockaddr_in6 back to back from addrs
 * (offsets 4 and 32, 60 bytes in all); use MPTCP_SUB_TUPLE_ADDR6. */
struct mptcp_sub_tuple {
	__u8 id;
	__u8 prio; /* 1: backup */
	struct sockaddr_in addrs[];
};

#define MPTCP_SUB_TUPLE_ADDR6(t, i) \
	((struct sockaddr_in6 *)((char *)(t)->addrs + (i) * sizeof(struct sockaddr_in6)))
#define MPTCP_SUB_TUPLE_LEN_V4 (sizeof(struct mptcp_sub_tuple) + 2 * sizeof(struct sockaddr_in))
#define MPTCP_SUB_TUPLE_LEN_V6 (sizeof(struct mptcp_sub_tuple) + 2 * sizeof(struct sockaddr_in6))

/* MPTCP_CLOSE_SUB_ID. */
#define MPTCP_CLOSE_RST 0 /* abortive: RST at once */
#define MPTCP_CLOSE_FIN 1 /* graceful: FIN after what is in flight */
struct mptcp_close_sub_id {
	__u8 id;
	int how; /* MPTCP_CLOSE_RST or MPTCP_CLOSE_FIN */
};

/* MPTCP_SUB_GETSOCKOPT: getsockopt(level, optname, optval, optlen) on subflow id. */
struct mptcp_sub_getsockopt {
	__u8 id;
	int level;
	int optname;
	char *optval;
	unsigned int *optlen;
};

/* MPTCP_SUB_SETSOCKOPT: setsockopt(level, optname, optval, optlen) on subflow id. */
struct mptcp_sub_setsockopt {
	__u8 id;
	int level;
	int optname;
	char *optval;
	unsigned int optlen;
};

/* Connection events (mptcp_next_event). */
#define MPTCP_EVENT_ESTABLISHED         1 /* value: 1 MPTCP, 0 fell back to TCP */
#define MPTCP_EVENT_FELL_BACK           2 /* reason: MPTCP_FALLBACK_* */
#define MPTCP_EVENT_SUBFLOW_ESTABLISHED 3 /* subflow_id */
#define MPTCP_EVENT_SUBFLOW_CLOSED      4 /* subflow_id, reason: MPTCP_SUBFLOW_END_* */
#define MPTCP_EVENT_ADDRESS_ANNOUNCED   5 /* addr_id, addr (with the port to join it on) */
#define MPTCP_EVENT_ADDRESS_REMOVED     6 /* addr_id */
#define MPTCP_EVENT_PRIORITY_CHANGED    7 /* subflow_id, value: 1 backup, 0 regular */
#define MPTCP_EVENT_CLOSED              8 /* reason: MPTCP_CLOSE_REASON_* */

#define MPTCP_SUBFLOW_END_CLOSED    0 /* both FINs exchanged */
#define MPTCP_SUBFLOW_END_RESET     1 /* the peer sent RST */
#define MPTCP_SUBFLOW_END_TIMED_OUT 2 /* retransmissions or SYNs ran out */
#define MPTCP_SUBFLOW_END_ABORTED   3 /* we reset it */

#define MPTCP_CLOSE_REASON_NORMAL         0
#define MPTCP_CLOSE_REASON_RESET          1
#define MPTCP_CLOSE_REASON_FASTCLOSE      2
#define MPTCP_CLOSE_REASON_TIMED_OUT      3
#define MPTCP_CLOSE_REASON_ABORTED        4
#define MPTCP_CLOSE_REASON_PROTOCOL_ERROR 5

#define MPTCP_FALLBACK_DISABLED            0
#define MPTCP_FALLBACK_PEER_NOT_CAPABLE    1
#define MPTCP_FALLBACK_SYN_OPTIONS_DROPPED 2
#define MPTCP_FALLBACK_OPTIONS_STRIPPED    3
#define MPTCP_FALLBACK_CHECKSUM_FAILED     4

struct mptcp_event {
	__u64 at_us;      /* microseconds since the stack started */
	__u32 type;       /* MPTCP_EVENT_* */
	__u32 subflow_id; /* this ABI's subflow id (as in the structures, but 32 bits) */
	__s32 reason;
	__u8 value;
	__u8 addr_id;
	__u16 reserved;
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} addr; /* sa_family AF_UNSPEC when the event has no address */
};

/* Settings of mptcp_stack_start_config; NULL fields take the defaults. */
struct mptcp_stack_config {
	/* "DEV=IP[,backup] DEV=IP ...": a TUN device per path (attached, or created in the calling
	 * thread's network namespace) and this stack's address on it; ",backup": subflows from it
	 * carry data only when no regular one can. Required. */
	const char *paths;
	const char *path_manager;       /* "fullmesh" (default), "ndiffports[:N]", "manual" */
	const char *scheduler;          /* "minrtt" (default), "roundrobin", "redundant", "blest" */
	const char *congestion_control; /* "cubic" (default), "reno", "lia", "olia" */
};

/* Starts the process's stack: 0, or -1 with errno (EALREADY: one is running; EINVAL: bad
 * settings; EPERM: no CAP_NET_ADMIN; ENOENT: no /dev/net/tun; EBUSY: a device in use). */
int mptcp_stack_start(const char *paths);
int mptcp_stack_start_config(const struct mptcp_stack_config *config);
/* Stops it: connections stop moving (nothing more is sent to their peers). ENETDOWN if none. */
int mptcp_stack_stop(void);

/* domain AF_INET or AF_INET6, type SOCK_STREAM (| SOCK_NONBLOCK | SOCK_CLOEXEC), protocol 0,
 * IPPROTO_TCP or IPPROTO_MPTCP. ENETDOWN when no stack runs. */
int mptcp_socket(int domain, int type, int protocol);
int mptcp_bind(int fd, const struct sockaddr *addr, socklen_t addrlen);
int mptcp_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
int mptcp_listen(int fd, int backlog);
int mptcp_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
int mptcp_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
int mptcp_shutdown(int fd, int how);
int mptcp_close(int fd);
int mptcp_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen);
int mptcp_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen);
int mptcp_getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen);
int mptcp_getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen);
/* The next event of connection fd: 1 and *ev filled, 0 when timeout_ms passed (0: do not wait,
 * -1: wait for ever), -1 with errno ENOTCONN once the connection is gone (or never was) and
 * every event was taken. 1024 events are kept; older ones are dropped. */
int mptcp_next_event(int fd, struct mptcp_event *ev, int timeout_ms);
/* 1 if fd is a socket of this library, else 0. */
int mptcp_is_socket(int fd);

/* The layout the library was built for. */
#ifdef __cplusplus
#define MPTCP_STATIC_ASSERT static_assert
#else
#define MPTCP_STATIC_ASSERT _Static_assert
#endif
MPTCP_STATIC_ASSERT(sizeof(struct mptcp_sub_status) == 2, "mptcp_sub_status is 2 bytes");
MPTCP_STATIC_ASSERT(sizeof(struct mptcp_sub_ids) == 2, "mptcp_sub_ids header is 2 bytes");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_sub_ids, sub_status) == 2, "sub_status at offset 2");
MPTCP_STATIC_ASSERT(sizeof(struct mptcp_sub_tuple) == 4, "mptcp_sub_tuple header is 4 bytes");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_sub_tuple, prio) == 1, "prio at offset 1");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_sub_tuple, addrs) == 4, "addrs at offset 4");
MPTCP_STATIC_ASSERT(MPTCP_SUB_TUPLE_LEN_V4 == 36, "IPv4 tuple is 36 bytes");
MPTCP_STATIC_ASSERT(MPTCP_SUB_TUPLE_LEN_V6 == 60, "IPv6 tuple is 60 bytes");
MPTCP_STATIC_ASSERT(sizeof(struct mptcp_close_sub_id) == 8, "mptcp_close_sub_id is 8 bytes");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_close_sub_id, how) == 4, "how at offset 4");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_sub_getsockopt, level) == 4, "level at offset 4");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_sub_getsockopt, optname) == 8, "optname at offset 8");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_sub_getsockopt, optval) == (sizeof(void *) == 8 ? 16 : 12), "optval");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_sub_getsockopt, optlen) == (sizeof(void *) == 8 ? 24 : 16), "optlen");
MPTCP_STATIC_ASSERT(sizeof(struct mptcp_sub_getsockopt) == (sizeof(void *) == 8 ? 32 : 20), "sub_getsockopt");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_sub_setsockopt, optval) == (sizeof(void *) == 8 ? 16 : 12), "optval");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_sub_setsockopt, optlen) == (sizeof(void *) == 8 ? 24 : 16), "optlen");
MPTCP_STATIC_ASSERT(sizeof(struct mptcp_sub_setsockopt) == (sizeof(void *) == 8 ? 32 : 20), "sub_setsockopt");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_event, type) == 8, "type at offset 8");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_event, reason) == 16, "reason at offset 16");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_event, value) == 20, "value at offset 20");
MPTCP_STATIC_ASSERT(offsetof(struct mptcp_event, addr) == 24, "addr at offset 24");
MPTCP_STATIC_ASSERT(sizeof(struct mptcp_event) == 56, "mptcp_event is 56 bytes");

#ifdef __cplusplus
}
#endif

#endif /* MPTCP_SOCKET_H */
