/*
 * sync — mm-sync's protocol and both of its halves.
 *
 * Why a protocol of our own instead of rsync: rsync --remove-source-files
 * deletes on the server before anything is fsynced at home, and it knows
 * nothing of Maildir.  Here the server (mm-sync --server DIR, run by ssh)
 * streams every message of DIR's new/ and cur/ (and of nested folders) with
 * its size and SHA-256; the client writes each one to an unnamed
 * O_TMPFILE file in its destination directory (or, where the file system
 * has none, to the local tmp/), names it without overwriting, makes a
 * batch durable with one syncfs(2) (run by a thread while the next batch
 * arrives), and only then confirms (id, path, size, sha256) back.  The
 * server deletes a file only if the confirmation matches what it itself
 * read and hashed when it sent it, and fsyncs the directories at the end.
 *
 * Pipelined: the server streams continuously; a reader thread on the
 * server consumes confirmations as they come, so neither side ever waits
 * for a round trip per message and neither can dead-lock on full pipes.
 * Since version 2 the stream is flow-controlled by acknowledgements (see
 * SYNC_WINDOW); they say only what was read and delete nothing.
 *
 * Frames: type (1 byte), length (4 bytes, big-endian), payload.  Every
 * length is checked against the type's limit before anything is read.
 *   H hello     "MMSYNC\0\0" u32 version u32 flags      (both ways, first;
 *               the server answers in the client's version)
 *   F file      u64 id, u64 size, path                   (server)
 *   D data      bytes of the current file                (server)
 *   E end       u64 id, sha256[32]                       (server)
 *   X skipped   u64 id, reason text                      (server)
 *   W warning   text                                     (server)
 *   Z done      u64 files offered                        (server)
 *   Q quit      u64 deleted, u64 failed                  (server, last)
 *   C confirm   u64 id, u64 size, sha256[32], path       (client)
 *   A ack       u64 stream bytes read so far             (client, version 2)
 *   B bye       empty                                    (client)
 *   R refuse    text, fatal                              (either)
 * A path is FOLDER.../(new|cur)/NAME; see sync_path_check.
 */
#ifndef MM_SYNC_H
#define MM_SYNC_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define SYNC_PROTO_VERSION 2             /* the client speaks this... */
#define SYNC_PROTO_MIN 1                 /* ...the server also this and up */
#define SYNC_MAGIC "MMSYNC\0\0"
#define SYNC_MAGIC_LEN 8
#define SYNC_HDR_LEN 5
#define SYNC_MAX_DATA (256 * 1024)        /* one D frame */
#define SYNC_MAX_CTRL 8192                /* any other frame */
#define SYNC_MAX_PATH 4096                /* a message path, bytes */
#define SYNC_MAX_NAME 255                 /* one path component */
#define SYNC_MAX_DEPTH 32                 /* nested folder levels */
#define SYNC_MAX_MSG_SIZE ((uint64_t)1 << 32)  /* larger files are skipped */
#define SYNC_BATCH_FILES 2048             /* confirm after this many... */
#define SYNC_BATCH_BYTES (128u * 1024 * 1024) /* ...or this many bytes... */
#define SYNC_BATCH_MS 300                 /* ...or when idle this long */
#define SYNC_SHA_LEN 32
/* The client reads up to a whole pipe (mm-sync asks for 1 MiB pipes):
 * ssh, woken for every few KiB drained, re-packs its channel buffer each
 * time and took more CPU than both halves of mm-sync together. */
#define SYNC_READ_CHUNK (1024 * 1024)
/* Version 2: the server has at most SYNC_WINDOW bytes of stream not yet
 * acknowledged by the client (who acknowledges every SYNC_ACK_BYTES and
 * before it waits).  Without it a client busy creating files left ssh
 * holding megabytes, and ssh spends CPU per byte in proportion to what it
 * holds.  2 MiB in flight allow ~30 MB/s at a 50 ms round trip
 * (measured with the acknowledgements delayed 50 ms). */
#define SYNC_WINDOW (2048u * 1024)
#define SYNC_ACK_BYTES (128u * 1024)
#define SYNC_TIMEOUT_MS (5 * 60 * 1000)

#define SYNC_FLAG_DRY  1u
#define SYNC_FLAG_KEEP 2u

enum sync_ftype {
	SYNC_F_HELLO = 'H', SYNC_F_FILE = 'F', SYNC_F_DATA = 'D', SYNC_F_END = 'E',
	SYNC_F_SKIP = 'X', SYNC_F_WARN = 'W', SYNC_F_DONE = 'Z', SYNC_F_QUIT = 'Q',
	SYNC_F_CONFIRM = 'C', SYNC_F_BYE = 'B', SYNC_F_REFUSE = 'R', SYNC_F_ACK = 'A',
};

struct sync_frame {
	uint8_t type;
	uint32_t len;
	const uint8_t *payload;
};

enum sync_dec { SYNC_DEC_OK = 0, SYNC_DEC_NEED = 1, SYNC_DEC_BAD = 2 };

/* Largest payload allowed for a frame type; 0 for an unknown type. */
size_t sync_frame_limit(uint8_t type);
/* Decode one frame at the start of buf; *used = bytes it spans.  BAD on an
 * unknown type or a length over the type's limit (err says which). */
enum sync_dec sync_frame_decode(const uint8_t *buf, size_t len, struct sync_frame *f,
    size_t *used, struct mm_err *err);
/* Append one frame to b. */
void sync_frame_encode(struct buf *b, uint8_t type, const void *payload, size_t len);

/* A message path from the peer: folder components, then new|cur, then a
 * name; no empty, ".", ".." component, no NUL, '/' only as separator, no
 * control byte, folder components are not tmp/new/cur, bounded lengths. */
int sync_path_check(const char *p, size_t len, struct mm_err *err);

/* Payload helpers (big-endian). */
void sync_put_u64(uint8_t *p, uint64_t v);
uint64_t sync_get_u64(const uint8_t *p);
void sync_put_u32(uint8_t *p, uint32_t v);
uint32_t sync_get_u32(const uint8_t *p);

/* Copy text from a peer for printing: control bytes become '?'. */
void sync_sanitize(const uint8_t *p, size_t n, char *out, size_t outsz);

/* The server half: speak on rfd/wfd, serve DIR.  0 ok, -1 error. */
int sync_server(int rfd, int wfd, const char *dir, struct mm_err *err);

struct sync_opts {
	unsigned flags;         /* SYNC_FLAG_* */
	int verbose;
	int progress;           /* show a progress line on stderr */
};

struct sync_stats {
	uint64_t moved, bytes, already, conflicts, skipped, failed, deleted, offered;
	uint64_t wire_in, wire_out;
	uint64_t via_tmp;       /* files written in tmp/ (no O_TMPFILE there) */
	int64_t start_ms, last_progress_ms;
};

enum sync_result {
	SYNC_OK = 0,
	SYNC_PARTIAL = 1,       /* some messages were not moved */
	SYNC_CONNECT = 3,       /* no usable peer (handshake failed, or died) */
	SYNC_LOCAL = 4,         /* local error before or during */
};

/* The client half over rfd/wfd; root is the open local Maildir. */
enum sync_result sync_client(int rfd, int wfd, int rootfd, const struct sync_opts *o,
    struct sync_stats *st, struct mm_err *err);

/* Is the local Maildir at rootfd ready to take mail?  Makes tmp/new/cur
 * unless dry.  0 yes, -1 no (err says why). */
int sync_local_check(int rootfd, int dry, struct mm_err *err);

/* Parse "[user@]host:PATH".  host must not start with '-'. */
int sync_parse_source(const char *s, char **host, char **path, struct mm_err *err);
/* Quote a word for the remote shell ssh hands its command to. */
char *sync_shell_quote(const char *s);

#endif
