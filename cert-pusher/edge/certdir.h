// SPDX-License-Identifier: MIT
/*
 * The loader's certificate directory and crt-list file, as files: what a reloaded or restarted
 * HAProxy reads. Files of <cert-dir>: "<host>.<type>.pem" (a certificate HAProxy may load),
 * ".<same>.new" (a renewal staged until HAProxy committed it), ".<same>.tmp" (being written).
 * Every write is write + rename, so a reading HAProxy sees the old or the new file, never half
 * of one. This file holds private keys on their way to HAProxy: it writes them (mode 0600) to
 * a directory it checked to be RAM-backed, and never reads them back except to compare.
 * Certificate names are full paths "<cert-dir>/<file>" (HAProxy knows them by that path).
 */
#ifndef SPOACME_PUSHER_EDGE_CERTDIR_H
#define SPOACME_PUSHER_EDGE_CERTDIR_H

#include <stddef.h>

#include "common/buf.h"
#include "common/strv.h"

/* Check <dir>: an absolute path HAProxy's runtime API can carry, a directory on tmpfs or ramfs
 * (keys must never reach a disk), owned by us, mode 0700 at most. 0 or -1 with <err>. */
int certdir_check(const char *dir, char *err, size_t errsz);

/* The file name of certificate <name> (in <dir>) with <suffix>: "" for the certificate itself,
 * ".new" or ".tmp" for its hidden siblings. 0 or -1. */
int certdir_path(const char *dir, const char *name, const char *suffix, struct buf *out);

/* Write <data>/<len> to <path> atomically through <tmp> (then rename), mode 0600. 0 or -1 with
 * <err>. */
int certdir_write_atomic(const char *path, const char *tmp, const void *data, size_t len, char *err,
                         size_t errsz);

/* Write <pem> as certificate <name>'s file (<suffix> "" or ".new"). 0 or -1 with <err>. */
int certdir_write(const char *dir, const char *name, const char *suffix, const struct buf *pem,
                  char *err, size_t errsz);

/* Whether <name>'s file holds exactly <pem> (compared in constant time, read copy wiped). */
int certdir_same(const char *name, const struct buf *pem);

/* Rename <name>'s staged file over it. 0 or -1 with <err>. */
int certdir_promote(const char *dir, const char *name, char *err, size_t errsz);

/* Remove <name>'s staged file, and unless <staged_only> its file. */
void certdir_unlink(const char *dir, const char *name, int staged_only);

/* The managed certificate files of <dir> (full names, sorted); stale ".tmp" and ".new" files
 * are removed. 0 or -1 (logged). */
int certdir_files(const char *dir, struct strv *files);

/* The lines of crt-list file <path> that name a managed certificate of <dir>, in file order;
 * the others are counted in <*other> (comments and blank lines are not). <*missing> says the
 * file does not exist (then 0). 0 or -1 with <err>. */
int certdir_list_read(const char *path, const char *dir, struct strv *lines, size_t *other,
                      int *missing, char *err, size_t errsz);

/* Write crt-list file <path>: a header naming <dir>, then <names> one per line. 0 or -1 with
 * <err>. */
int certdir_list_write(const char *path, const char *dir, const char *const *names, size_t n,
                       char *err, size_t errsz);

#endif
