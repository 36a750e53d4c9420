/* SPDX-License-Identifier: MIT */
/*
 * --kms / --kms-seal options and the `kms create-key` command (kms_conf.c).
 */
#ifndef CERT_PUSHER_KMS_CONF_H
#define CERT_PUSHER_KMS_CONF_H

#include <stddef.h>

#include "cert-pusher/conf.h"
#include "cert-pusher/pusher.h"

struct blob_keyring;

/* When --kms is set, open it and attach it to <kr> (sealing unless --kms-seal no), and
 * register the "kms" /healthz line and spoacme_kms_up. 0 (also without --kms) or -1 with
 * <err>. */
int kms_conf_attach(struct blob_keyring *kr, const struct conf *conf, char *err, size_t errsz);
/* The keys blobs are sealed and opened with: the key ring file <ring> (or none when NULL), with
 * --kms attached as kms_conf_attach() does. NULL with <err> ("--keyring: ..." or --kms's). */
struct blob_keyring *kms_conf_keyring(const char *ring, const struct conf *conf, char *err,
                                      size_t errsz);
/* Whether --keyring may be left out: --kms is set (KMS blobs only). */
int kms_conf_keyring_optional(const struct conf *conf);

pusher_cmd_fn kms_conf_cmd_kms; /* kms create-key */

#endif
