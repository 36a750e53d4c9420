/* SPDX-License-Identifier: MIT */
/*
 * The status page the API serves on GET / : cert-pusher/api/status.html, turned into this array
 * at build time by `xxd -i` (Makefile, $(BUILD)/gen/status_page.c). Plain HTML, CSS and a
 * script that reads GET /v1/hostnames with the token it is given; no build step of its own.
 */
#ifndef CERT_PUSHER_STATUS_PAGE_H
#define CERT_PUSHER_STATUS_PAGE_H

extern unsigned char status_page_html[];
extern unsigned int status_page_html_len;

#endif
