// SPDX-License-Identifier: MIT
/*
 * redis-server for unit tests (see tredis.h).
 */
#include "tests/unit/support/tredis.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int tredis_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd, port = -1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int tredis_connectable(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd, ok;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int tredis_start(struct tredis *r)
{
	char port[16];
	struct timespec ts = { 0, 20 * 1000000 };
	int i;

	memset(r, 0, sizeof(*r));
	r->pid = -1;
	if (access("/usr/bin/redis-server", X_OK) != 0)
		return -1;
	snprintf(r->dir, sizeof(r->dir), "/tmp/tredis.XXXXXX");
	if (!mkdtemp(r->dir))
		return -1;
	r->port = tredis_free_port();
	if (r->port < 0)
		return -1;
	snprintf(port, sizeof(port), "%d", r->port);
	snprintf(r->addr, sizeof(r->addr), "127.0.0.1:%d", r->port);
	r->pid = fork();
	if (r->pid < 0)
		return -1;
	if (r->pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGTERM);

		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execl("/usr/bin/redis-server", "redis-server", "--port", port, "--bind",
		      "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r->dir,
		      "--protected-mode", "no", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		if (tredis_connectable(r->port))
			return 0;
		nanosleep(&ts, NULL);
	}
	tredis_stop(r);
	return -1;
}

void tredis_stop(struct tredis *r)
{
	char cmd[128];

	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, NULL, 0);
		r->pid = -1;
	}
	if (r->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "tredis: could not remove %s\n", r->dir);
		r->dir[0] = 0;
	}
}
