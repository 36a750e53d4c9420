// SPDX-License-Identifier: MIT
/*
 * Test tool: TLS handshakes with HAProxy, as many clients would make them, and the serial of
 * the certificate each one got. Integration tests and benchmarks use it to count, per
 * handshake, what a client saw while HAProxy is reloaded or restarted; openssl s_client costs
 * a process per handshake, this does thousands per second. Not part of the product.
 *
 *   tls_probe ADDR PORT [--rsa] NAME...        one handshake per NAME: "NAME TYPE SERIAL"
 *   tls_probe ADDR PORT --loop FILE [--pause-ms N] NAME...
 *                                              random names and key types until FILE is gone;
 *                                              a line per handshake: "PHASE NAME TYPE SERIAL"
 *                                              (PHASE: FILE's first word at that moment), N ms
 *                                              between handshakes (default 0)
 *
 * SERIAL is the peer certificate's serial in uppercase hex, or REFUSED (no TCP connection), or
 * CUT (the connection was closed or reset during the handshake: a process stopping), or FAIL
 * (the handshake failed by TLS: an alert such as no shared cipher, or no certificate; or no answer
 * within 5 s: TIMEOUT), followed by OpenSSL's reason. TYPE is
 * ecdsa (TLS 1.3, any key) or rsa (TLS 1.2 with an ECDHE-RSA cipher only, which makes HAProxy pick
 * the RSA certificate). Certificates are not verified: the serial is what the tests compare.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* One handshake to <addr> for <name>; the result into <out>. */
static void probe_one(SSL_CTX *ctx, const struct sockaddr_in *addr, const char *name, char *out,
                      size_t outsz)
{
	SSL *ssl = NULL;
	X509 *cert = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	struct timeval tv = { 5, 0 };
	int fd, one = 1, rc;

	snprintf(out, outsz, "FAIL");
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* a peer that accepts and never answers is a failure after 5 s, not a hang */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
		snprintf(out, outsz, "%s",
		         errno == ECONNREFUSED                     ? "REFUSED"
		         : errno == EINPROGRESS || errno == EAGAIN ? "TIMEOUT"
		                                                   : "FAIL");
		goto out;
	}
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_tlsext_host_name(ssl, name) || !SSL_set_fd(ssl, fd))
		goto out;
	rc = SSL_connect(ssl);
	if (rc != 1) {
		int e = SSL_get_error(ssl, rc);
		unsigned long lib = ERR_peek_error();

		if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
		     e == SSL_ERROR_SYSCALL) &&
		    errno == EAGAIN) {
			snprintf(out, outsz, "TIMEOUT");
			goto out;
		}

		/* EOF, reset or close_notify without a certificate alert: the peer went away
		 * (a stopping HAProxy closes what it holds), it did not refuse. */
		if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN ||
		    (e == SSL_ERROR_SSL &&
		     ERR_GET_REASON(lib) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
			snprintf(out, outsz, "CUT");
		else if (lib)
			snprintf(out, outsz, "FAIL %s", ERR_reason_error_string(lib));
		else
			snprintf(out, outsz, "FAIL ssl_error=%d", e);
		goto out;
	}
	cert = SSL_get1_peer_certificate(ssl);
	if (!cert)
		goto out;
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	if (hex)
		snprintf(out, outsz, "%s", hex);
	(void)SSL_shutdown(ssl);
out:
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(cert);
	SSL_free(ssl);
	ERR_clear_error();
	close(fd);
}

static SSL_CTX *probe_ctx(int rsa)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (rsa && (!SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) ||
	            !SSL_CTX_set_cipher_list(ctx, "ECDHE-RSA-AES128-GCM-SHA256"))) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The first word of <path>, or "" (and 0) when it is gone. */
static int probe_phase(const char *path, char *out, size_t outsz)
{
	FILE *f = fopen(path, "re");

	out[0] = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%63s", out) != 1)
		out[0] = 0;
	fclose(f);
	(void)outsz;
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	SSL_CTX *ctx[2] = { NULL, NULL };
	const char *loop = NULL;
	char res[256], phase[64];
	int i = 3, rsa = 0, nnames, ret = 2;
	long pause_ms = 0;
	char *end = NULL;
	long port = argc > 2 ? strtol(argv[2], &end, 10) : 0;

	if (argc < 4 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 || !end || *end ||
	    port <= 0 || port > 65535) {
		fprintf(stderr, "usage: tls_probe ADDR PORT [--rsa | --loop FILE] NAME...\n");
		return 2;
	}
	addr.sin_port = htons((unsigned short)port);
	if (!strcmp(argv[i], "--rsa")) {
		rsa = 1;
		i++;
	} else if (!strcmp(argv[i], "--loop") && i + 1 < argc) {
		loop = argv[i + 1];
		i += 2;
		if (i + 1 < argc && !strcmp(argv[i], "--pause-ms")) {
			pause_ms = strtol(argv[i + 1], &end, 10);
			if (*end || pause_ms < 0 || pause_ms > 10000) {
				fprintf(stderr, "tls_probe: --pause-ms wants 0..10000\n");
				return 2;
			}
			i += 2;
		}
	}
	nnames = argc - i;
	if (nnames < 1) {
		fprintf(stderr, "tls_probe: no NAME\n");
		return 2;
	}
	ctx[0] = probe_ctx(0);
	ctx[1] = probe_ctx(1);
	if (!ctx[0] || !ctx[1]) {
		fprintf(stderr, "tls_probe: cannot set up OpenSSL\n");
		goto out;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* a write to a connection HAProxy reset (a restart) is EPIPE, a CUT, not our death */
	signal(SIGPIPE, SIG_IGN);
	if (!loop) {
		for (; i < argc; i++) {
			probe_one(ctx[rsa], &addr, argv[i], res, sizeof(res));
			printf("%s %s %s\n", argv[i], rsa ? "rsa" : "ecdsa", res);
		}
		ret = 0;
		goto out;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	while (probe_phase(loop, phase, sizeof(phase))) {
		const char *name = argv[i + rand() % nnames];
		int t = rand() % 2;

		probe_one(ctx[t], &addr, name, res, sizeof(res));
		printf("%s %s %s %s\n", phase[0] ? phase : "-", name, t ? "rsa" : "ecdsa", res);
		if (pause_ms) {
			struct timespec ts = { pause_ms / 1000, (pause_ms % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	ret = 0;
out:
	SSL_CTX_free(ctx[0]);
	SSL_CTX_free(ctx[1]);
	return ret;
}
