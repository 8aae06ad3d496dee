import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerFor, testClock, testInner, userById } from '../../test/context.ts';
import { createTestDb, DIALECTS, ledgerMismatches, type TestDb } from '../../test/db.ts';
import { httpClient, startTestServer } from '../../test/http.ts';
import type { InnerContext } from '../context.ts';
import { createCodeBatch } from '../services/redeem.ts';

type ErrorData = { appCode?: string; reason?: string; params?: { retryAfterSeconds?: number } };
type Answer = { result?: unknown; error?: { json: { data: ErrorData } } };

/** One tRPC mutation over raw HTTP, as an attacker's script would send it. */
async function post(
  url: string,
  path: string,
  input: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; data?: ErrorData; ok: boolean }> {
  const res = await fetch(`${url}/trpc/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ json: input }),
  });
  const body = (await res.json()) as Answer;
  return { status: res.status, data: body.error?.json.data, ok: res.ok };
}

/** `count` calls of one procedure in one batched request. */
async function postBatch(
  url: string,
  path: string,
  inputs: unknown[],
  headers: Record<string, string> = {},
): Promise<{ status: number; answers: Answer[] | Answer }> {
  const body = Object.fromEntries(inputs.map((input, i) => [String(i), { json: input }]));
  const res = await fetch(`${url}/trpc/${inputs.map(() => path).join(',')}?batch=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, answers: (await res.json()) as Answer[] | Answer };
}

const cookieHeader = (cookies: Map<string, string>) => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');

describe.each(DIALECTS)('attacks over HTTP on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const clock = testClock();
  beforeAll(async () => {
    t = await createTestDb(dialect);
    inner = testInner(t.db, {
      clock,
      env: {
        // The test plays many clients through X-Forwarded-For from loopback.
        TRUST_PROXY: 'loopback',
        SIGNUPS_PER_IP_PER_HOUR: '5',
        PUBLIC_URL: 'https://dream.example.com',
        ADMIN_EMAILS: 'codes-admin@example.com',
      },
    });
    server = await startTestServer(inner);
  });
  afterAll(async () => {
    await server?.close();
    await t?.destroy();
  });

  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  const events = async (prefix: string) =>
    (await t.db.selectFrom('rate_limit_events').select('id').where('bucket', 'like', `${prefix}%`).execute())
      .length;
  const audits = async (action: string, subject?: string) => {
    let q = t.db.selectFrom('audit_log').select('id').where('action', '=', action);
    if (subject) q = q.where('subject', '=', subject);
    return (await q.execute()).length;
  };

  async function signUp(email: string, ip: string) {
    const cookies = new Map<string, string>();
    const res = await post(server.url, 'auth.signUp', { email, password: 'sturdy-pass-1' }, from(ip));
    expect(res.ok).toBe(true);
    const client = httpClient(server.url, { cookies });
    await client.auth.signIn.mutate({ email, password: 'sturdy-pass-1' });
    return { cookies, client };
  }

  it('refuses a 300-call sign-in batch whole, evaluating no password', async () => {
    await signUp('batch-victim@example.com', '198.51.100.1');
    const inputs = Array.from({ length: 300 }, (_, i) => ({
      email: 'batch-victim@example.com',
      password: i === 277 ? 'sturdy-pass-1' : `guess-${i}`,
    }));
    const res = await postBatch(server.url, 'auth.signIn', inputs, from('203.0.113.66'));
    expect(res.status).toBe(400);
    const refusals = Array.isArray(res.answers) ? res.answers : [res.answers];
    expect(refusals.map((a) => a.error?.json.data.reason)).toContain('BATCH_TOO_LARGE');
    expect(await audits('signin.failed', 'batch-victim@example.com')).toBe(0);
    expect(await audits('signin.ok', 'batch-victim@example.com')).toBe(1); // the helper's own sign-in
  });

  it('refuses rate-limited mutations inside any batch of two or more, while queries stay batchable', async () => {
    const inputs = Array.from({ length: 3 }, () => ({
      email: 'batch-victim@example.com',
      password: 'sturdy-pass-1',
    }));
    const res = await postBatch(server.url, 'auth.signIn', inputs, from('203.0.113.67'));
    const answers = res.answers as Answer[];
    expect(answers.map((a) => a.error?.json.data.reason)).toEqual([
      'BATCH_NOT_ALLOWED',
      'BATCH_NOT_ALLOWED',
      'BATCH_NOT_ALLOWED',
    ]);
    expect(await audits('signin.ok', 'batch-victim@example.com')).toBe(1);
    const signUps = await postBatch(server.url, 'auth.signUp', [
      { email: 'b1@example.com', password: 'sturdy-pass-1' },
      { email: 'b2@example.com', password: 'sturdy-pass-1' },
    ]);
    expect((signUps.answers as Answer[]).map((a) => a.error?.json.data.reason)).toEqual([
      'BATCH_NOT_ALLOWED',
      'BATCH_NOT_ALLOWED',
    ]);
    const queries = await fetch(
      `${server.url}/trpc/auth.me,auth.me,ai.models?batch=1&input=${encodeURIComponent('{}')}`,
    );
    expect(queries.status).toBe(200);
  });

  it('evaluates at most the limit of 60 parallel sign-ins, then refuses even the right password at once', async () => {
    await signUp('parallel@example.com', '198.51.100.2');
    const attacker = from('203.0.113.70');
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        post(server.url, 'auth.signIn', { email: 'parallel@example.com', password: `guess-${i}` }, attacker),
      ),
    );
    const evaluated = results.filter((r) => r.data?.reason === 'WRONG_CREDENTIALS').length;
    const limited = results.filter((r) => r.data?.reason === 'LOCKED_OUT').length;
    // Exactly the limit: attempts over it while others were in flight waited for them to settle.
    expect(evaluated).toBe(10);
    expect(evaluated + limited).toBe(60);
    expect(await audits('signin.failed', 'parallel@example.com')).toBe(evaluated);

    const started = Date.now();
    const right = await post(
      server.url,
      'auth.signIn',
      { email: 'parallel@example.com', password: 'sturdy-pass-1' },
      attacker,
    );
    expect(Date.now() - started).toBeLessThan(1000);
    expect(right.status).toBe(429);
    expect(right.data).toMatchObject({ appCode: 'RATE_LIMITED', reason: 'LOCKED_OUT' });
    expect(right.data?.params?.retryAfterSeconds).toBeGreaterThan(0);
    expect(right.data?.params?.retryAfterSeconds).toBeLessThanOrEqual(15 * 60);
    // The stranger's guesses do not lock the owner out from their own address.
    const owner = await post(
      server.url,
      'auth.signIn',
      { email: 'parallel@example.com', password: 'sturdy-pass-1' },
      from('198.51.100.2'),
    );
    expect(owner.ok).toBe(true);
  });

  it('backs off: after the 15-minute lock, a persistent guesser gets fewer tries per hour', async () => {
    await signUp('backoff@example.com', '198.51.100.3');
    const guesser = from('203.0.113.71');
    const guess = () =>
      post(server.url, 'auth.signIn', { email: 'backoff@example.com', password: 'nope-nope-1' }, guesser);
    for (let i = 0; i < 10; i++) expect((await guess()).data?.reason).toBe('WRONG_CREDENTIALS');
    expect((await guess()).data?.reason).toBe('LOCKED_OUT');
    clock.advance(16 * 60 * 1000);
    for (let i = 0; i < 10; i++) expect((await guess()).data?.reason).toBe('WRONG_CREDENTIALS');
    const locked = await guess();
    expect(locked.data?.reason).toBe('LOCKED_OUT');
    // Now the hour's tier holds: the wait is the better part of an hour, not 15 minutes.
    expect(locked.data?.params?.retryAfterSeconds).toBeGreaterThan(30 * 60);
    clock.advance(2 * 3600 * 1000);
  });

  it('refuses a redeem batch, and evaluates at most 20 of 60 parallel guesses', async () => {
    const { cookies } = await signUp('guesser@example.com', '198.51.100.4');
    const headers = { cookie: cookieHeader(cookies), ...from('203.0.113.72') };
    const big = await postBatch(
      server.url,
      'redeem.redeem',
      Array.from({ length: 300 }, () => ({ code: 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEE' })),
      headers,
    );
    expect(big.status).toBe(400);
    const small = await postBatch(
      server.url,
      'redeem.redeem',
      [{ code: 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEE' }, { code: 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEF' }],
      headers,
    );
    expect((small.answers as Answer[]).map((a) => a.error?.json.data.reason)).toEqual([
      'BATCH_NOT_ALLOWED',
      'BATCH_NOT_ALLOWED',
    ]);
    expect(await events('redeem:')).toBe(0);

    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        post(
          server.url,
          'redeem.redeem',
          { code: `AAAAA-BBBBB-CCCCC-DDDDD-${String(i).padStart(5, 'X')}` },
          headers,
        ),
      ),
    );
    const evaluated = results.filter((r) => r.data?.appCode === 'CODE_INVALID').length;
    expect(evaluated).toBe(20);
    expect(results.filter((r) => r.data?.appCode === 'RATE_LIMITED').length).toBe(60 - evaluated);
  });

  it('counts only failures: 40 users behind one address redeem valid codes at once, and 16 right sign-ins to one account pass', async () => {
    const office = from('198.51.100.40');
    const users = [];
    for (let i = 0; i < 40; i++) {
      // Each signed up from home (the sign-up limit per address is 5 here), then all redeem at the office.
      const { user: view } = await callerFor(inner, null, { ip: `192.0.2.${i + 1}` }).auth.signUp({
        email: `office-${i}@example.com`,
        password: 'sturdy-pass-1',
      });
      const user = await userById(t.db, view.id);
      const { token } = await callerFor(inner, user).apiTokens.create({ name: 'office' });
      users.push({ user, token });
    }
    const { codes } = await createCodeBatch(t.db, {
      credits: 7,
      count: 40,
      createdBy: users[0]!.user.id,
      now: clock.now(),
    });
    const redeemed = await Promise.all(
      users.map(({ token }, i) =>
        post(
          server.url,
          'redeem.redeem',
          { code: codes[i] },
          { authorization: `Bearer ${token}`, ...office },
        ),
      ),
    );
    expect(redeemed.filter((r) => !r.ok).map((r) => r.data)).toEqual([]);
    expect(await ledgerMismatches(t.db)).toEqual([]);
    // Successes gave their places back: the address still has its 20 failed attempts.
    expect(await events('redeem:ip:198.51.100.40')).toBe(0);

    await signUp('busy@example.com', '198.51.100.41');
    const signIns = await Promise.all(
      Array.from({ length: 16 }, () =>
        post(server.url, 'auth.signIn', { email: 'busy@example.com', password: 'sturdy-pass-1' }, office),
      ),
    );
    expect(signIns.filter((r) => !r.ok).map((r) => r.data)).toEqual([]);
  });

  it('one address flooding made-up reset links and its own right sign-ins does not refuse another address its sign-in', async () => {
    await signUp('hash-owner@example.com', '198.51.100.60');
    // Five accounts of the flooder's own: each (account, address) has at most ten sign-ins in flight.
    for (let i = 0; i < 5; i++) await signUp(`hash-flooder-${i}@example.com`, `198.51.100.${61 + i}`);
    const flooder = from('203.0.113.61');
    const resets = Array.from({ length: 60 }, (_, i) =>
      post(
        server.url,
        'auth.resetPassword',
        { token: `dfr_madeup${i}`, password: 'a-new-sturdy-pass-9' },
        flooder,
      ),
    );
    const signIns = Array.from({ length: 60 }, (_, i) =>
      post(
        server.url,
        'auth.signIn',
        { email: `hash-flooder-${i % 5}@example.com`, password: 'sturdy-pass-1' },
        flooder,
      ),
    );
    const owner = post(
      server.url,
      'auth.signIn',
      { email: 'hash-owner@example.com', password: 'sturdy-pass-1' },
      from('198.51.100.60'),
    );
    const [resetAnswers, signInAnswers, ownerAnswer] = await Promise.all([
      Promise.all(resets),
      Promise.all(signIns),
      owner,
    ]);
    // A made-up link costs no hash: every one is refused as such, none as BUSY.
    expect(new Set(resetAnswers.map((r) => r.data?.reason))).toEqual(new Set(['RESET_LINK_INVALID']));
    // The flooder is served its share and refused the rest (busy, or too many in flight for one account
    // from one address); the other address gets its place.
    expect(signInAnswers.some((r) => r.ok)).toBe(true);
    const refusals = new Set(signInAnswers.filter((r) => !r.ok).map((r) => r.data?.reason));
    expect([...refusals].filter((reason) => reason !== 'BUSY' && reason !== 'LOCKED_OUT')).toEqual([]);
    expect(ownerAnswer.ok).toBe(true);
  });

  it('counts an IPv6 client by its /64: walking through its addresses does not dodge the sign-up limit', async () => {
    const answers = [];
    for (let i = 1; i <= 6; i++) {
      answers.push(
        await post(
          server.url,
          'auth.signUp',
          { email: `v6-walker-${i}@example.com`, password: 'sturdy-pass-1' },
          from(`2001:db8:77:1:${i.toString(16)}::${i}`),
        ),
      );
    }
    expect(answers.map((a) => a.ok)).toEqual([true, true, true, true, true, false]);
    expect(answers[5]!.data).toMatchObject({ appCode: 'RATE_LIMITED', reason: 'SIGNUP_LIMIT' });
    // Another /64 is another client.
    const neighbour = await post(
      server.url,
      'auth.signUp',
      { email: 'v6-neighbour@example.com', password: 'sturdy-pass-1' },
      from('2001:db8:77:2::1'),
    );
    expect(neighbour.ok).toBe(true);
  });

  it('takes a forwarded address that is no address for the peer: no 500, no junk in the audit log', async () => {
    for (const junk of ['x'.repeat(300), '<script>alert(1)</script>', "1.2.3.4' OR '1'='1"]) {
      const email = `junk-${junk.length}@example.com`;
      const res = await post(server.url, 'auth.signUp', { email, password: 'sturdy-pass-1' }, from(junk));
      expect(res.ok, junk).toBe(true);
      const row = await t.db
        .selectFrom('audit_log')
        .select('ip')
        .where('action', '=', 'signup')
        .where('subject', '=', email)
        .executeTakeFirstOrThrow();
      expect(row.ip).toMatch(/^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/);
    }
  });

  it('answers junk it cannot read with VALIDATION: a cursor that is no cursor, input nested 20,000 deep', async () => {
    const { user: view } = await callerFor(inner, null, { ip: '192.0.2.200' }).auth.signUp({
      email: 'junk@example.com',
      password: 'sturdy-pass-1',
    });
    const { token } = await callerFor(inner, await userById(t.db, view.id)).apiTokens.create({
      name: 'junk',
    });
    const auth = { authorization: `Bearer ${token}` };
    for (const path of ['jobs.list', 'outputs.list', 'credits.history']) {
      const input = encodeURIComponent(JSON.stringify({ json: { cursor: '!!!junk' } }));
      const res = await fetch(`${server.url}/trpc/${path}?input=${input}`, { headers: auth });
      const body = (await res.json()) as Answer;
      expect(res.status, path).toBe(400);
      expect(body.error?.json.data.appCode, path).toBe('VALIDATION');
    }
    let deep = '1';
    for (let i = 0; i < 20_000; i++) deep = `[${deep}]`;
    const res = await fetch(`${server.url}/trpc/ai.generateImage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: `{"json":{"prompt":${deep}}}`,
    });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(text).toContain('VALIDATION');
    expect(text).not.toMatch(/call stack|RangeError|\n\s+at /);
  });

  it('caps sign-ups per IP through 1,000 attempts while /healthz keeps answering within a second', async () => {
    const ip = from('203.0.113.80');
    const before = (await t.db.selectFrom('users').select('id').execute()).length;
    const batch = await postBatch(
      server.url,
      'auth.signUp',
      Array.from({ length: 1000 }, (_, i) => ({
        email: `farm-batch-${i}@example.com`,
        password: 'sturdy-pass-1',
      })),
      ip,
    );
    expect(batch.status).toBe(400);

    let done = false;
    let slowest = 0;
    const probe = (async () => {
      while (!done) {
        const started = Date.now();
        const res = await fetch(`${server.url}/healthz`);
        expect(res.status).toBe(200);
        slowest = Math.max(slowest, Date.now() - started);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const outcomes: (string | undefined)[] = [];
    // 10 connections at a time, back to back. The test's own fetches share the server's event loop (and
    // CI runs test files side by side on two cores), so more at once would time the test client as much
    // as the server; bench/abuse/run.ts floods harder and prints the latencies.
    for (let wave = 0; wave < 100; wave++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          post(
            server.url,
            'auth.signUp',
            { email: `farm-${wave}-${i}@example.com`, password: 'sturdy-pass-1' },
            ip,
          ),
        ),
      );
      outcomes.push(...answers.map((a) => (a.ok ? 'ok' : a.data?.reason)));
    }
    done = true;
    await probe;
    const made = outcomes.filter((o) => o === 'ok').length;
    expect(made).toBeGreaterThan(0);
    expect(made).toBeLessThanOrEqual(5);
    expect(outcomes.filter((o) => o === 'SIGNUP_LIMIT').length).toBe(1000 - made);
    expect(slowest).toBeLessThan(1000);
    const users = await t.db.selectFrom('users').select('id').execute();
    expect(users.length - before).toBe(made);
    expect(await ledgerMismatches(t.db)).toEqual([]);
    // Another network still signs up.
    expect(
      (
        await post(
          server.url,
          'auth.signUp',
          { email: 'farm-elsewhere@example.com', password: 'sturdy-pass-1' },
          from('203.0.113.81'),
        )
      ).ok,
    ).toBe(true);
  });

  it('does not count a refused sign-up (taken email, common password) against the IP', async () => {
    const ip = from('203.0.113.90');
    await post(server.url, 'auth.signUp', { email: 'taken@example.com', password: 'sturdy-pass-1' }, ip);
    for (let i = 0; i < 6; i++) {
      const res = await post(
        server.url,
        'auth.signUp',
        { email: 'taken@example.com', password: 'sturdy-pass-1' },
        ip,
      );
      expect(res.data?.reason).toBe('EMAIL_TAKEN');
    }
    expect(
      (await post(server.url, 'auth.signUp', { email: 'short-pw@example.com', password: 'short' }, ip)).data
        ?.reason,
    ).toBe('PASSWORD_TOO_SHORT');
    for (let i = 0; i < 4; i++) {
      expect(
        (
          await post(
            server.url,
            'auth.signUp',
            { email: `fresh-${i}@example.com`, password: 'sturdy-pass-1' },
            ip,
          )
        ).ok,
      ).toBe(true);
    }
    expect(
      (
        await post(
          server.url,
          'auth.signUp',
          { email: 'one-too-many@example.com', password: 'sturdy-pass-1' },
          ip,
        )
      ).data?.reason,
    ).toBe('SIGNUP_LIMIT');
  });

  it('answers "taken" at most four times the sign-up limit an hour per IP, so addresses cannot be tried by the thousand', async () => {
    const ip = from('203.0.113.91');
    const signUpAs = (email: string) =>
      post(server.url, 'auth.signUp', { email, password: 'sturdy-pass-1' }, ip);
    expect((await signUpAs('known-0@example.com')).ok).toBe(true);
    const answers = [];
    for (let i = 0; i < 25; i++) answers.push((await signUpAs('known-0@example.com')).data?.reason);
    expect(answers.slice(0, 20)).toEqual(Array(20).fill('EMAIL_TAKEN'));
    expect(answers.slice(20)).toEqual(Array(5).fill('SIGNUP_LIMIT'));
    // The sign-ups' own budget is untouched: a new address still makes an account.
    expect((await signUpAs('known-1@example.com')).ok).toBe(true);
  });

  it('never runs a form-encoded or text/plain mutation: a cross-site form cannot sign a user out', async () => {
    const { cookies, client } = await signUp('form@example.com', '198.51.100.5');
    const form = new FormData();
    form.set('json', 'null');
    for (const body of [form, 'json=null', new Blob(['{"json":null}'], { type: 'text/plain' })]) {
      const res = await fetch(`${server.url}/trpc/auth.signOut`, {
        method: 'POST',
        headers: { cookie: cookieHeader(cookies) },
        body,
      });
      expect(res.status).toBe(415);
      const answer = (await res.json()) as Answer;
      expect(answer.error?.json.data).toMatchObject({ appCode: 'VALIDATION', reason: 'JSON_ONLY' });
    }
    expect((await client.auth.me.query())?.user.email).toBe('form@example.com');
  });

  it('refuses a cookie mutation from a foreign Origin; same host, PUBLIC_URL, no Origin and Bearer pass', async () => {
    const { cookies, client } = await signUp('origin@example.com', '198.51.100.6');
    const cookie = { cookie: cookieHeader(cookies) };
    const foreign = await post(server.url, 'auth.signOut', null, {
      ...cookie,
      origin: 'https://evil.example',
    });
    expect(foreign.status).toBe(403);
    expect(foreign.data).toMatchObject({ appCode: 'FORBIDDEN', reason: 'ORIGIN_REFUSED' });
    expect((await post(server.url, 'auth.signOut', null, { ...cookie, origin: 'null' })).status).toBe(403);
    expect((await client.auth.me.query())?.user.email).toBe('origin@example.com');

    const { token } = await client.apiTokens.create.mutate({ name: 'script' });
    const bearer = await post(
      server.url,
      'apiTokens.revoke',
      { id: 'nope' },
      { authorization: `Bearer ${token}`, origin: 'https://evil.example' },
    );
    expect(bearer.data?.appCode).toBe('NOT_FOUND');
    expect((await post(server.url, 'apiTokens.revoke', { id: 'nope' }, cookie)).data?.appCode).toBe(
      'NOT_FOUND',
    );
    const publicOrigin = await post(
      server.url,
      'apiTokens.revoke',
      { id: 'nope' },
      { ...cookie, origin: 'https://dream.example.com' },
    );
    expect(publicOrigin.data?.appCode).toBe('NOT_FOUND');
    const sameHost = await post(server.url, 'auth.signOut', null, { ...cookie, origin: server.url });
    expect(sameHost.ok).toBe(true);
    expect(await client.auth.me.query()).toBeNull();
  });

  it('sends security headers: a CSP that fits the SPA, no framing, nosniff, referrer policy, HSTS only over https', async () => {
    for (const path of ['/', '/healthz', '/trpc/auth.me']) {
      const res = await fetch(`${server.url}${path}`);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toMatch(/img-src 'self' data: blob:/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin');
      expect(res.headers.get('strict-transport-security')).toBeNull();
    }
    const https = await fetch(`${server.url}/healthz`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(https.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
  });
});
