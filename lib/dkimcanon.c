/*
 * dkimcanon — relaxed canonicalization (see dkimcanon.h).
 *
 * The body pass works on the whole body in memory (mm-send holds it
 * anyway).  Empty lines at the end are found first, by looking backwards
 * for the last byte that is not white space or a line end; everything
 * after that byte's line is dropped, so the forward pass never has to
 * hold back line ends.  The forward pass keeps a "clean run" that starts
 * where the last change was made and hashes it in one piece when the next
 * change comes: on ordinary text, with single spaces between words and
 * none at line ends, the whole body is one run.
 */
#include "dkimcanon.h"

#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

/* the bytes the forward pass has to stop at */
static const unsigned char body_stop[256] = {
	['\t'] = 1, [' '] = 1, ['\r'] = 1, ['\n'] = 1,
};

static int is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Count line ends in body[0..off) for an error message: a line number
 * is what a user can find in an editor. */
static size_t line_of(const char *body, size_t off)
{
	size_t n = 1;
	for (size_t i = 0; i < off; i++)
		n += body[i] == '\n';
	return n;
}

/* The length of body that survives the removal of empty (or white-space
 * only) lines at the end: just past the CRLF of the last line that has
 * something else in it, or len when that line has no CRLF.  0 when
 * nothing but white space and line ends is there. */
static size_t content_end(const char *body, size_t len)
{
	size_t i = len;
	while (i > 0) {
		unsigned char c = (unsigned char)body[i - 1];
		if (!is_wsp(c) && c != '\r' && c != '\n')
			break;
		i--;
	}
	if (i == 0)
		return 0;
	/* i is just past the last content byte; keep the rest of its line */
	while (i < len && body[i] != '\n')
		i++;
	return i < len ? i + 1 : len;
}

/*
 * A block at a time, without a branch per byte: on text with a space
 * every few bytes a per-byte loop mispredicts at every word; this stops
 * only where something may have to change, which in ordinary text is
 * nowhere.  block_needs_look(p) says whether the block at p holds a tab,
 * a space followed by white space or CR, a CR not followed by LF, or an
 * LF not preceded by CR; it reads p[-1] to p[BLOCK].  SSE2 (every x86-64)
 * does 16 bytes; elsewhere 8 bytes in a 64-bit word.
 */
/* DKIMCANON_NO_SIMD: the portable path, for tests/unit/dkimcanon_swar.c */
#if defined(__SSE2__) && !defined(DKIMCANON_NO_SIMD)
#include <emmintrin.h>
#define BLOCK 16

static int block_needs_look(const char *p)
{
	__m128i prev = _mm_loadu_si128((const __m128i *)(const void *)(p - 1));
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i next = _mm_loadu_si128((const __m128i *)(const void *)(p + 1));
#define EQ(v, c) _mm_cmpeq_epi8((v), _mm_set1_epi8(c))
	__m128i wsp_next = _mm_or_si128(_mm_or_si128(EQ(next, ' '), EQ(next, '\t')), EQ(next, '\r'));
	__m128i m = EQ(x, '\t');
	m = _mm_or_si128(m, _mm_and_si128(EQ(x, ' '), wsp_next));
	m = _mm_or_si128(m, _mm_andnot_si128(EQ(next, '\n'), EQ(x, '\r')));
	m = _mm_or_si128(m, _mm_andnot_si128(EQ(prev, '\r'), EQ(x, '\n')));
#undef EQ
	return _mm_movemask_epi8(m) != 0;
}
#else
#define BLOCK 8
#define ONES  0x0101010101010101ULL
#define LOW7  0x7f7f7f7f7f7f7f7fULL

/* the high bit of each byte set where x has the byte c (exact: no carry
 * crosses a byte) */
static uint64_t bytes_eq(uint64_t x, unsigned char c)
{
	uint64_t y = x ^ (ONES * c);
	return ~(((y & LOW7) + LOW7) | y | LOW7);
}

static uint64_t load8(const char *p)
{
	uint64_t x;
	memcpy(&x, p, sizeof x);
	return x;
}

static int block_needs_look(const char *p)
{
	uint64_t prev = load8(p - 1), x = load8(p), next = load8(p + 1);
	uint64_t m = bytes_eq(x, '\t');
	m |= bytes_eq(x, ' ') & (bytes_eq(next, ' ') | bytes_eq(next, '\t') | bytes_eq(next, '\r'));
	m |= bytes_eq(x, '\r') & ~bytes_eq(next, '\n');
	m |= bytes_eq(x, '\n') & ~bytes_eq(prev, '\r');
	return m != 0;
}
#endif

#define HASH_CHUNK (64 * 1024)   /* hash a clean run while it is still in cache */

int dkimcanon_body_sha256(const char *body, size_t len, unsigned char out[DKIMCANON_HASH_LEN],
    struct mm_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int outlen = 0;
	size_t end = content_end(body, len);
	const char *p = body, *e = body + end, *run = body;
	const char *bad = NULL;
	int ok;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return err_set(err, "SHA-256 is not available");
	}
	/* the dropped tail must be well formed too: what is signed is sent */
	for (size_t i = end; i < len && !bad; i++)
		if ((body[i] == '\r' && (i + 1 == len || body[i + 1] != '\n')) ||
		    (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')))
			bad = body + i;
	ok = 1;
	while (ok && !bad && p < e) {
		/* fast: whole blocks that need nothing (p[-1] and p[8] exist) */
		while (p > body && p + BLOCK < e && !block_needs_look(p)) {
			p += BLOCK;
			if (p - run >= HASH_CHUNK) {
				ok = EVP_DigestUpdate(ctx, run, (size_t)(p - run));
				run = p;
			}
		}
		/* slow: up to the next byte that matters within one block */
		const char *lim = e - p > BLOCK ? p + BLOCK : e;
		while (p < lim && !body_stop[(unsigned char)*p])
			p++;
		if (p == lim)
			continue;
		if (*p == '\r') {
			if (p + 1 >= body + len || p[1] != '\n')
				bad = p;
			p += 2;
			continue;
		}
		if (*p == '\n') {
			/* its CR may have gone by in a fast block */
			if (p == body || p[-1] != '\r')
				bad = p;
			p++;
			continue;
		}
		/* a run of white space: one SP stays as it is, anything else
		 * becomes one SP, and none at all before a line end */
		const char *q = p;
		while (q < e && is_wsp((unsigned char)*q))
			q++;
		int at_eol = q == e || *q == '\r';
		if (!at_eol && q - p == 1 && *p == ' ') {
			p = q;
			continue;
		}
		ok = EVP_DigestUpdate(ctx, run, (size_t)(p - run));
		if (ok && !at_eol)
			ok = EVP_DigestUpdate(ctx, " ", 1);
		run = p = q;
	}
	if (bad) {
		EVP_MD_CTX_free(ctx);
		return err_set(err, "bare %s in body line %zu", *bad == '\r' ? "CR" : "LF",
		    line_of(body, (size_t)(bad - body)));
	}
	if (ok && e > run)
		ok = EVP_DigestUpdate(ctx, run, (size_t)(e - run));
	/* a last line without its CRLF is hashed with one */
	if (ok && end > 0 && (end < 2 || body[end - 2] != '\r' || body[end - 1] != '\n'))
		ok = EVP_DigestUpdate(ctx, "\r\n", 2);
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, out, &outlen);
	EVP_MD_CTX_free(ctx);
	if (!ok || outlen != DKIMCANON_HASH_LEN)
		return err_set(err, "SHA-256 of the body failed");
	return 0;
}

void dkimcanon_header(const char *raw, size_t len, int crlf, struct buf *out)
{
	size_t i = 0;
	int space = 0, started = 0;

	/* the name: lowercase, any white space around it gone */
	for (; i < len && raw[i] != ':'; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (is_wsp(c) || c == '\r' || c == '\n')
			continue;
		buf_putc(out, (char)ascii_tolower(c));
	}
	buf_putc(out, ':');
	/* the value: unfolded (line ends dropped), white space runs made one
	 * SP, none at either end */
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c == '\r' || c == '\n')
			continue;
		if (is_wsp(c)) {
			space = started;
			continue;
		}
		if (space)
			buf_putc(out, ' ');
		space = 0;
		started = 1;
		buf_putc(out, (char)c);
	}
	if (crlf)
		buf_append(out, "\r\n", 2);
}
