// SPDX-License-Identifier: MIT
/*
 * base64url on top of OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock: translate '+/' <-> '-_' and
 * drop or restore '=' padding. Decoding rejects anything outside the url alphabet up front, so
 * EVP's leniency (whitespace, '+' and '/') never applies to our input.
 */
#include "common/b64url.h"

#include <openssl/evp.h>
#include <string.h>

bool b64url_alphabet_only(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

int b64url_encode(struct buf *out, const void *p, size_t len)
{
	size_t enc_len, i, start;
	int n;

	if (len > (size_t)0x3fffffff)
		return -1;
	enc_len = 4 * ((len + 2) / 3);
	if (buf_reserve(out, enc_len) < 0)
		return -1;
	start = out->len;
	n = EVP_EncodeBlock(out->data + start, p, (int)len);
	if (n < 0)
		return -1;
	while (n > 0 && out->data[start + (size_t)n - 1] == '=')
		n--;
	for (i = start; i < start + (size_t)n; i++) {
		if (out->data[i] == '+')
			out->data[i] = '-';
		else if (out->data[i] == '/')
			out->data[i] = '_';
	}
	out->len = start + (size_t)n;
	out->data[out->len] = 0;
	return 0;
}

int b64url_decode(struct buf *out, const char *s, size_t len)
{
	unsigned char *tmp = NULL;
	size_t padded, i, pad;
	int n, ret = -1;

	if (len % 4 == 1 || len > (size_t)0x3fffffff || !b64url_alphabet_only(s, len))
		goto out;
	pad = (4 - len % 4) % 4;
	padded = len + pad;
	tmp = OPENSSL_malloc(padded + 1);
	if (!tmp)
		goto out;
	for (i = 0; i < len; i++)
		tmp[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : (unsigned char)s[i];
	for (; i < padded; i++)
		tmp[i] = '=';
	if (buf_reserve(out, padded / 4 * 3) < 0)
		goto out;
	n = padded ? EVP_DecodeBlock(out->data + out->len, tmp, (int)padded) : 0;
	if (n < 0)
		goto out;
	/* EVP_DecodeBlock counts the bytes that padding stands for; drop them. */
	out->len += (size_t)n - pad;
	out->data[out->len] = 0;
	ret = 0;
out:
	if (tmp)
		OPENSSL_clear_free(tmp, padded + 1);
	return ret;
}
