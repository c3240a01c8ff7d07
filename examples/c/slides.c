/*
 * Slides 19-21 of "An enhanced socket API for Multipath TCP" (Hesmans & Bonaventure) as one
 * program, their code unmodified but for the addresses, which come from the command line.
 *
 * It connects to SERVER:PORT, lists the subflows (slide 19) and their endpoints (slide 20),
 * sends the first half of BYTES bytes (byte i is i % 251), opens a subflow from LOCAL2 to
 * REMOTE2 (slide 21), lists them again, waits until the new one is established, sends the rest,
 * shuts down its side and reads what the server sends back until end of file.
 *
 * A client's MP_JOIN can start only once the connection is fully established: once the server
 * acknowledged data at the connection level (RFC 8684 §3.1). MPTCP_OPEN_SUB_TUPLE accepts the
 * request at once (the id comes back) and the stack starts the join then; sending data first
 * makes it start early.
 *
 * It uses the plain socket calls: run it under `mptcp run` (see README.md), whose LD_PRELOAD
 * library puts its TCP socket on the userspace MPTCP stack and answers the paper's options.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mptcp_socket.h"

/* Slide 19: currently established subflows. Returns the number listed (-1 on error). */
static int list_subflows(int sockfd, struct mptcp_sub_ids **out)
{
	int i, err;
	unsigned int optlen;
	struct mptcp_sub_ids *ids;

	optlen = 42; // must be large enough
	ids = (struct mptcp_sub_ids *) malloc(optlen);

	err = getsockopt(sockfd, IPPROTO_TCP, MPTCP_GET_SUB_IDS, ids, &optlen);
	if (err < 0) {
		perror("getsockopt(MPTCP_GET_SUB_IDS)");
		free(ids);
		return -1;
	}

	for (i = 0; i < ids->sub_count; i++) {
		printf("Subflow id : %i\n", ids->sub_status[i].id);
	}
	*out = ids;
	return ids->sub_count;
}

/* Slide 20: the endpoints of a subflow. */
static int print_endpoints(int sockfd, int sub_id)
{
	unsigned int optlen;
	struct mptcp_sub_tuple *sub_tuple;
	struct sockaddr_in *sin;

	optlen = 100; // must be large enough
	sub_tuple = (struct mptcp_sub_tuple *)malloc(optlen);
	sub_tuple->id = sub_id;
	if (getsockopt(sockfd, IPPROTO_TCP, MPTCP_GET_SUB_TUPLE, sub_tuple, &optlen) < 0) {
		perror("getsockopt(MPTCP_GET_SUB_TUPLE)");
		free(sub_tuple);
		return -1;
	}

	sin = (struct sockaddr_in*) &sub_tuple->addrs[0];
	printf("\tip src : %s src port : %hu\n", inet_ntoa(sin->sin_addr), ntohs(sin->sin_port));

	sin = (struct sockaddr_in*) &sub_tuple->addrs[1];
	printf("\tip dst : %s dst port : %hu\n", inet_ntoa(sin->sin_addr), ntohs(sin->sin_port));

	free(sub_tuple);
	return 0;
}

/* Slide 21: creating a subflow. Returns its id (written back by the stack), or -1. */
static int open_subflow(int sockfd, const char *local, const char *remote, unsigned short port)
{
	int error, id;
	unsigned int optlen;
	struct mptcp_sub_tuple *sub_tuple;
	struct sockaddr_in *addr;

	optlen = sizeof(struct mptcp_sub_tuple) +
		2 * sizeof(struct sockaddr_in);

	sub_tuple = malloc(optlen);
	sub_tuple->id = 0;
	sub_tuple->prio = 0;

	addr = (struct sockaddr_in*) &sub_tuple->addrs[0];

	addr->sin_family = AF_INET;
	addr->sin_port = htons(12345);
	inet_pton(AF_INET, local, &addr->sin_addr);

	addr = (struct sockaddr_in*) &sub_tuple->addrs[1];

	addr->sin_family = AF_INET;
	addr->sin_port = htons(port);
	inet_pton(AF_INET, remote, &addr->sin_addr);

	error = getsockopt(sockfd, IPPROTO_TCP, MPTCP_OPEN_SUB_TUPLE, sub_tuple, &optlen);
	if (error < 0) {
		int saved = errno;

		free(sub_tuple);
		errno = saved;
		return -1;
	}
	id = sub_tuple->id;
	free(sub_tuple);
	return id;
}

/* Lists the subflows with their endpoints; sets *established if subflow `wanted` is fully
 * established. */
static int show(int sockfd, int wanted, int *established)
{
	struct mptcp_sub_ids *ids;
	int i, n = list_subflows(sockfd, &ids);

	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (print_endpoints(sockfd, ids->sub_status[i].id) < 0) {
			free(ids);
			return -1;
		}
		if (ids->sub_status[i].id == wanted && ids->sub_status[i].fully_established)
			*established = 1;
	}
	free(ids);
	return 0;
}

/* Writes the pattern from offset *sent up to offset `until`. */
static int send_pattern(int sockfd, long long *sent, long long until)
{
	char buf[65536];

	while (*sent < until) {
		long long i, n = until - *sent < (long long)sizeof(buf) ? until - *sent : (long long)sizeof(buf);
		ssize_t w;

		for (i = 0; i < n; i++)
			buf[i] = (char)((*sent + i) % 251);
		w = write(sockfd, buf, (size_t)n);
		if (w < 0) {
			perror("write");
			return -1;
		}
		*sent += w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in server;
	unsigned short port;
	long long bytes, sent = 0, received = 0;
	char buf[65536];
	int sockfd, id, tries, established = 0;

	if (argc != 6) {
		fprintf(stderr, "usage: %s SERVER PORT LOCAL2 REMOTE2 BYTES\n", argv[0]);
		return 2;
	}
	port = (unsigned short)atoi(argv[2]);
	bytes = atoll(argv[5]);

	memset(&server, 0, sizeof(server));
	server.sin_family = AF_INET;
	server.sin_port = htons(port);
	if (inet_pton(AF_INET, argv[1], &server.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", argv[1]);
		return 2;
	}
	sockfd = socket(AF_INET, SOCK_STREAM, 0);
	if (sockfd < 0 || connect(sockfd, (struct sockaddr *)&server, sizeof(server)) < 0) {
		perror("connect");
		return 1;
	}

	if (show(sockfd, -1, &established) < 0)
		return 1;
	if (send_pattern(sockfd, &sent, bytes / 2) < 0)
		return 1;
	id = open_subflow(sockfd, argv[3], argv[4], port);
	if (id < 0) {
		perror("getsockopt(MPTCP_OPEN_SUB_TUPLE)");
		return 1;
	}
	printf("opened subflow %d\n", id);
	if (show(sockfd, id, &established) < 0)
		return 1;
	/* The join takes a round trip: ask again until the new subflow is established. */
	for (tries = 0; !established && tries < 1000; tries++) {
		struct mptcp_sub_ids *ids;
		unsigned int optlen = 2 + 2 * 32;
		int i;

		ids = malloc(optlen);
		if (getsockopt(sockfd, IPPROTO_TCP, MPTCP_GET_SUB_IDS, ids, &optlen) < 0) {
			perror("getsockopt(MPTCP_GET_SUB_IDS)");
			return 1;
		}
		for (i = 0; i < ids->sub_count; i++)
			if (ids->sub_status[i].id == id && ids->sub_status[i].fully_established)
				established = 1;
		free(ids);
		if (!established)
			usleep(10000);
	}
	if (!established) {
		fprintf(stderr, "subflow %d did not establish\n", id);
		return 1;
	}
	printf("subflow %d established\n", id);

	if (send_pattern(sockfd, &sent, bytes) < 0)
		return 1;
	shutdown(sockfd, SHUT_WR);
	for (;;) {
		ssize_t r = read(sockfd, buf, sizeof(buf));

		if (r < 0) {
			perror("read");
			return 1;
		}
		if (r == 0)
			break;
		received += r;
	}
	printf("sent %lld bytes\nreceived %lld bytes\n", sent, received);
	close(sockfd);
	return 0;
}
