/* lib/submit: the signature policy, the reply texts, the replay cache
 * (also under concurrent processes), and the whole check against keys made
 * and signatures made by the project's own lib/keys and lib/dkimsign. */
#include "tap.h"
#include "dkimsign.h"
#include "keys.h"
#include "submit.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOW 1800000000LL

#define RACERS 8

static int ours(void *ctx, const char *d)
{
	(void)ctx;
	return !strcmp(d, "example.org");
}

static void good_sig(struct dkimv_sig *s)
{
	memset(s, 0, sizeof *s);
	s->result = DKIMV_PASS;
	snprintf(s->domain, sizeof s->domain, "example.org");
	snprintf(s->selector, sizeof s->selector, "me");
	snprintf(s->alg, sizeof s->alg, "ed25519-sha256");
	snprintf(s->h, sizeof s->h, "Date:From:To:Subject:from");
	snprintf(s->b, sizeof s->b, "AAAA");
	s->t = NOW - 10;
	s->x = -1;
}

static void policy(void)
{
	struct dkimv_sig s;
	struct addr me;
	char sels[1][KEYS_SELECTOR_MAX + 1] = { "me" }, why[256];
	const char *miss = NULL;

	ok(submit_h_covers("from : To:subject:DATE", &miss) == 1, "h= covers the four, any case/space");
	ok(submit_h_covers("From:To:Subject", &miss) == 0 && !strcmp(miss, "Date"), "h= without Date");
	ok(submit_h_covers("From:To:Subjects:Date", &miss) == 0 && !strcmp(miss, "Subject"),
	    "a longer name is not the name");
	ok(submit_h_covers("", &miss) == 0 && !strcmp(miss, "From"), "empty h=");

	addr_parse_mailbox("me@example.org", 14, &me, NULL);
	good_sig(&s);
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_OK, "good");
	snprintf(s.domain, sizeof s.domain, "other.org");
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_OTHER_DOMAIN,
	    "d= of another domain");
	good_sig(&s);
	snprintf(s.alg, sizeof s.alg, "rsa-sha1");
	s.result = DKIMV_FAIL;
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_WEAK_ALG, "rsa-sha1");
	good_sig(&s);
	snprintf(s.h, sizeof s.h, "From:To:Subject");
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_WEAK_H &&
	    !strcmp(why, "Date"), "h= lacks Date");
	good_sig(&s);
	s.has_l = 1;
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_WEAK_L,
	    "l= even when it covers the body");
	good_sig(&s);
	s.result = DKIMV_FAIL;
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_BAD_SIG, "fails");
	good_sig(&s);
	snprintf(s.selector, sizeof s.selector, "you");
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_WRONG_KEY,
	    "another user's selector");
	good_sig(&s);
	s.t = NOW - 901;
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_STALE, "t= too old");
	s.t = NOW - 900;
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_OK,
	    "t= exactly at the window");
	s.t = NOW + SUBMIT_FUTURE_MAX + 1;
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_STALE,
	    "t= too far ahead");
	s.t = -1;
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_STALE, "no t=");
	good_sig(&s);
	s.x = NOW - 1;
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_STALE,
	    "x= in the past");
	s.x = NOW + 1;
	ok(submit_judge_sig(&s, &me, sels, 1, NOW, 900, why, sizeof why) == SUBMIT_OK, "x= ahead");
}

static void replies(void)
{
	struct submit_result res;
	struct smtpd_reply r[SUBMIT_TEMP + 1];
	int distinct = 1, codes = 1;

	memset(&res, 0, sizeof res);
	for (int v = SUBMIT_BAD_HEADER; v <= SUBMIT_TEMP; v++) {
		res.v = (enum submit_verdict)v;
		submit_reply(&res, &r[v]);
		if (v == SUBMIT_TEMP ? r[v].code != 451 : (r[v].code != 550 ||
		    (strncmp(r[v].text, "5.7.", 4) && v != SUBMIT_BAD_HEADER)))
			codes = 0;
		for (int w = SUBMIT_BAD_HEADER; w < v; w++)
			if (!strcmp(r[v].text, r[w].text))
				distinct = 0;
	}
	ok(codes, "refusals are 550 5.7.x (451 when temporary)");
	ok(distinct, "every refusal has its own text");
	ok(strstr(r[SUBMIT_REPLAYED].text, "replayed") != NULL, "replay says so");
	ok(strstr(r[SUBMIT_WRONG_KEY].text, "another user's key") != NULL, "wrong key says so");
	ok(strstr(r[SUBMIT_MISMATCH].text, "sender mismatch") != NULL, "mismatch says so");
}

static void replay(const char *dir)
{
	struct submit_replay rp;
	struct submit_result res;
	struct mm_err err;
	char a[SUBMIT_REPLAY_ID_LEN + 1], b[SUBMIT_REPLAY_ID_LEN + 1];
	int wins = 0;

	submit_replay_id("AAAA", a);
	submit_replay_id("AAAB", b);
	ok(strlen(a) == 64 && strcmp(a, b), "replay ids: 64 hex, distinct");
	ok(submit_replay_open(&rp, dir, &err) == 0, "replay cache opens");
	memset(&res, 0, sizeof res);
	memcpy(res.ids[0], a, sizeof a);
	res.nids = 1;
	ok(submit_replay_lock(&rp, &err) == 0, "lock");
	ok(submit_replay_seen(&rp, &res, &err) == 0, "not seen yet");
	ok(submit_replay_record(&rp, &res, &err) == 0, "recorded");
	ok(submit_replay_seen(&rp, &res, &err) == 1, "seen now");
	memcpy(res.ids[1], b, sizeof b);
	res.nids = 2;
	ok(submit_replay_seen(&rp, &res, &err) == 1, "seen when any of the ids is");
	ok(submit_replay_sweep(&rp, time(NULL), 900, 1, &err) == 0, "a fresh entry is kept");
	ok(submit_replay_sweep(&rp, time(NULL) + 2 * 900 + SUBMIT_SLACK + 5, 900, 1, &err) == 1,
	    "an entry older than 2 * window + slack is swept");
	ok(submit_replay_seen(&rp, &res, &err) == 0, "gone after the sweep");
	ok(submit_replay_sweep(&rp, time(NULL) + 2 * 900 + SUBMIT_SLACK + 10, 900, 0, &err) == 0,
	    "no second sweep within a minute");
	submit_replay_unlock(&rp);

	/* processes racing with one signature: exactly one may take it */
	memcpy(res.ids[0], b, sizeof b);
	res.nids = 1;
	for (int i = 0; i < RACERS; i++) {
		pid_t p = fork();
		if (p == 0) {
			int won = 0;
			if (submit_replay_lock(&rp, &err) == 0 && submit_replay_seen(&rp, &res, &err) == 0) {
				usleep(2000);      /* widen the window a missing lock would open */
				won = submit_replay_record(&rp, &res, &err) == 0;
			}
			submit_replay_unlock(&rp);
			_exit(won ? 0 : 1);
		}
	}
	for (int i = 0; i < RACERS; i++) {
		int st;
		if (wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			wins++;
	}
	ok(wins == 1, "%d racing sessions: exactly one accepted the signature (%d)", RACERS, wins);
	submit_replay_close(&rp);
}

/* keys for me@ and you@example.org, and other.org, in dir */
static void make_key(const char *dir, const char *address, enum keys_type t, const char *sel)
{
	struct addr a;
	struct buf pem, rec;
	char path[4096];

	addr_parse_mailbox(address, strlen(address), &a, NULL);
	buf_init(&pem);
	buf_init(&rec);
	keys_generate(t, 1024, &pem, &rec, NULL);
	keys_path(dir, &a, t, KEYS_PRIVATE, path, sizeof path, NULL);
	keys_write_new(path, pem.data, pem.len, 0600, NULL);
	keys_path(dir, &a, t, KEYS_PUBLIC, path, sizeof path, NULL);
	keys_write_new(path, rec.data, rec.len, 0644, NULL);
	if (sel) {
		keys_path(dir, &a, t, KEYS_SELECTOR, path, sizeof path, NULL);
		keys_write_new(path, sel, strlen(sel), 0644, NULL);
	}
	buf_free(&pem);
	buf_free(&rec);
}

/* msg signed by signer's keys for domain; result in out */
static void sign(const char *dir, const char *signer, const char *domain, const char *msg,
    struct buf *out)
{
	struct addr a;
	struct dkimsign_keys ks;
	struct mm_err err;

	addr_parse_mailbox(signer, strlen(signer), &a, NULL);
	buf_reset(out);
	if (dkimsign_load(dir, &a, &ks, &err) < 0 ||
	    dkimsign_sign(msg, strlen(msg), domain, &ks, NULL, 0, out, &err) < 0)
		printf("# sign: %s\n", err.msg);
	dkimsign_keys_free(&ks);
	buf_puts(out, msg);
}

static enum submit_verdict check(const struct submit_conf *c, const char *env, const char *msg,
    size_t len, time_t now, struct submit_result *res)
{
	struct addr e;
	struct mm_err err;
	struct dns_resolver *dns = NULL;

	addr_parse_mailbox(env, strlen(env), &e, NULL);
	if (submit_check(c, &dns, &e, 0, msg, len, now, res, &err) < 0)
		printf("# check: %s\n", err.msg);
	if (dns)
		dns_close(dns);
	if (res->v != SUBMIT_OK)
		printf("# verdict %d: %s\n", res->v, res->why);
	return res->v;
}

/* A dead session's leftovers, decided by the next one (crash ordering). */
static void recovery(const char *qdir, const struct submit_result *good, const char *signed_msg,
    size_t len)
{
	struct submit_replay rp;
	struct queue q;
	struct queue_env e;
	struct mm_err err;
	char ids[DKIMV_SIGS_MAX][SUBMIT_REPLAY_ID_LEN + 1];
	struct submit_result other;
	time_t now = time(NULL);

	ok(submit_msg_ids(signed_msg, len, ids, DKIMV_SIGS_MAX) == good->nids &&
	    !strcmp(ids[0], good->ids[0]) && !strcmp(ids[good->nids - 1], good->ids[good->nids - 1]),
	    "the ids read back from a queued message are the verifier's");
	ok(queue_open(&q, qdir, &err) == 0 && submit_replay_open(&rp, qdir, &err) == 0, "open");
	submit_replay_lock(&rp, &err);

	/* died after queueing (held), before the replay entry */
	ok(submit_pending_begin(&rp, good, 0, &err) == 0, "pending written");
	queue_env_init(&e);
	snprintf(e.from, sizeof e.from, "me@example.org");
	queue_env_add_rcpt(&e, "x@far.test");
	e.next_try = SUBMIT_HELD;
	ok(queue_add(&q, &e, signed_msg, len, &err) == 0, "held job queued");
	ok(submit_recover(&rp, &q, -1, now, &err) == 1, "recovery finds the dead session's commit");
	ok(submit_replay_seen(&rp, good, &err) == 1, "its signature is recorded: a resend is a replay");
	queue_env_free(&e);
	queue_load(&q, e.id, &e, NULL, &err);
	ok(e.next_try == (long long)now, "and the held job is released for delivery");
	queue_env_free(&e);
	ok(submit_recover(&rp, &q, -1, now, &err) == 0, "nothing left to recover");

	/* died after queueing the held job, before the Maildir copies due too */
	{
		static const char held_msg[] = "DKIM-Signature: v=1; d=example.org; b=c29tZQ==\r\n"
		    "From: me@example.org\r\n\r\nbody\r\n";
		struct submit_result loc;

		memset(&loc, 0, sizeof loc);
		submit_replay_id("c29tZQ==", loc.ids[0]);
		loc.nids = 1;
		ok(submit_pending_begin(&rp, &loc, 1, &err) == 0, "pending with copies due here");
		queue_env_init(&e);
		snprintf(e.from, sizeof e.from, "me@example.org");
		queue_env_add_rcpt(&e, "x@far.test");
		e.next_try = SUBMIT_HELD;
		ok(queue_add(&q, &e, held_msg, sizeof held_msg - 1, &err) == 0, "its held job queued");
		ok(submit_recover(&rp, &q, -1, now, &err) == 1, "recovery decides it");
		ok(submit_replay_seen(&rp, &loc, &err) == 0, "no copy made: not recorded");
		queue_env_free(&e);
		ok(queue_load(&q, e.id, &e, NULL, &err) == 1, "and the held job is removed");
		queue_env_free(&e);
	}

	/* died before anything was committed */
	memset(&other, 0, sizeof other);
	submit_replay_id("never-committed", other.ids[0]);
	other.nids = 1;
	submit_pending_begin(&rp, &other, 0, &err);
	ok(submit_recover(&rp, &q, -1, now, &err) == 1, "a pending file without a held job: decided");
	ok(submit_replay_seen(&rp, &other, &err) == 0, "not recorded: the resend will be taken");
	ok(submit_recover(&rp, &q, -1, now, &err) == 0, "and gone");

	/* local recipients only: a copy found in the Maildir proves the commit */
	{
		char root[4300], path[4400];
		static const char line[] = "maildir example.org/me 123.M1P2Q3R4.host,S=9\n";
		int rootfd, fd;

		snprintf(root, sizeof root, "%s/root", qdir);
		mkdir(root, 0700);
		snprintf(path, sizeof path, "%s/example.org", root);
		mkdir(path, 0700);
		snprintf(path, sizeof path, "%s/example.org/me", root);
		mkdir(path, 0700);
		snprintf(path, sizeof path, "%s/example.org/me/cur", root);
		mkdir(path, 0700);
		rootfd = open(root, O_RDONLY | O_DIRECTORY);
		submit_replay_id("local-only", other.ids[0]);
		submit_pending_begin(&rp, &other, 0, &err);
		ok(submit_pending_add(&rp, &other, line, strlen(line), &err) == 0, "copy noted");
		ok(submit_recover(&rp, &q, rootfd, now, &err) == 1 &&
		    submit_replay_seen(&rp, &other, &err) == 0, "copy not in the Maildir: not committed");
		snprintf(path, sizeof path, "%s/example.org/me/cur/123.M1P2Q3R4.host,S=9:2,S", root);
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		close(fd);
		submit_pending_begin(&rp, &other, 0, &err);
		submit_pending_add(&rp, &other, line, strlen(line), &err);
		ok(submit_recover(&rp, &q, rootfd, now, &err) == 1 &&
		    submit_replay_seen(&rp, &other, &err) == 1,
		    "copy already read (in cur/): committed, signature recorded");
		close(rootfd);
	}
	submit_replay_unlock(&rp);
	submit_replay_close(&rp);
	queue_close(&q);
}

static void whole(const char *dir, const char *qdir)
{
	static const char msg[] = "From: Me <me@example.org>\r\nTo: x@far.test\r\n"
	    "Subject: s\r\nDate: Wed, 2 Dec 2026 09:00:00 +0000\r\n\r\nbody\r\n";
	struct submit_conf c = { .keys_dir = dir, .window = 900, .is_ours = ours };
	struct submit_result res;
	struct buf m;
	time_t now = time(NULL);
	char *p;

	make_key(dir, "me@example.org", KEYS_ED25519, NULL);
	make_key(dir, "me@example.org", KEYS_RSA, "me-rsa\n");
	make_key(dir, "you@example.org", KEYS_ED25519, NULL);
	make_key(dir, "me@other.org", KEYS_ED25519, NULL);
	buf_init(&m);

	sign(dir, "me@example.org", "example.org", msg, &m);
	now = time(NULL);      /* t= is the signing time: after the (slow) key generation */
	ok(check(&c, "me@example.org", m.data, m.len, now, &res) == SUBMIT_OK, "signed by me: ok");
	ok(res.nids == 2, "both signatures (rsa, ed25519) are replay identities");
	recovery(qdir, &res, m.data, m.len);
	ok(check(&c, "you@example.org", m.data, m.len, now, &res) == SUBMIT_MISMATCH,
	    "envelope of another user: mismatch");
	ok(check(&c, "me@example.org", m.data, m.len, now + 960, &res) == SUBMIT_STALE,
	    "16 minutes later: stale");
	ok(check(&c, "me@example.org", msg, strlen(msg), now, &res) == SUBMIT_NO_SIG, "unsigned");

	p = strstr(m.data, "body");
	*p = 'B';
	ok(check(&c, "me@example.org", m.data, m.len, now, &res) == SUBMIT_BAD_SIG, "altered body");
	*p = 'b';
	p = strstr(m.data, "Subject: s");
	p[9] = 't';
	ok(check(&c, "me@example.org", m.data, m.len, now, &res) == SUBMIT_BAD_SIG,
	    "altered signed header");

	sign(dir, "you@example.org", "example.org", msg, &m);
	ok(check(&c, "me@example.org", m.data, m.len, now, &res) == SUBMIT_WRONG_KEY,
	    "signed with you's key: another user's key");

	sign(dir, "me@other.org", "other.org", msg, &m);
	ok(check(&c, "me@example.org", m.data, m.len, now, &res) == SUBMIT_OTHER_DOMAIN,
	    "signed for another domain");
	{
		static const char om[] = "From: me@other.org\r\nTo: x@far.test\r\n"
		    "Subject: s\r\nDate: Wed, 2 Dec 2026 09:00:00 +0000\r\n\r\nbody\r\n";
		sign(dir, "me@other.org", "other.org", om, &m);
		ok(check(&c, "me@other.org", m.data, m.len, now, &res) == SUBMIT_NOT_OURS,
		    "From: in a domain not ours");
	}
	{
		static const char two[] = "From: me@example.org\r\nFrom: me@example.org\r\nTo: x@far.test\r\n"
		    "Subject: s\r\n\r\nbody\r\n";
		ok(check(&c, "me@example.org", two, strlen(two), now, &res) == SUBMIT_BAD_HEADER,
		    "two From: fields");
	}
	buf_free(&m);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(path);
}

int main(void)
{
	char dir[] = "/tmp/mm-submit-XXXXXX", keys[4200], q2[4200];

	if (!mkdtemp(dir))
		return 1;
	snprintf(keys, sizeof keys, "%s/keys", dir);
	snprintf(q2, sizeof q2, "%s/q2", dir);
	mkdir(keys, 0700);
	mkdir(q2, 0700);
	policy();
	replies();
	replay(dir);
	whole(keys, q2);
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		printf("# could not remove %s\n", dir);
	return done_testing();
}
