// The demo, end to end, in Debian's headless Chromium (driven by playwright-core).
//
// Run by scripts/browser-test.sh, which starts the demo with a short idle timeout and sets:
//   DEMO_URL         http://127.0.0.1:<port>
//   DEMO_BIN         the demo binary (for `rotate-key`), and DEMO_DATA_DIR, its data directory
//   SCREENSHOT_DIR   where a failing check leaves a screenshot (default ../target/e2e-screenshots)
// Each check runs in a fresh browser context (its own cookie jar), bounded in time; a failure
// saves a screenshot and the run exits 1.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

import { request } from 'playwright-core';

import { demoUrl, launch, signIn } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const base = demoUrl();
const host = new URL(base).hostname;
const shots = process.env.SCREENSHOT_DIR || path.join(here, '..', 'target', 'e2e-screenshots');
const TEST_TIMEOUT_MS = 60_000;
const COOKIE = '__Host-session';

const info = await (await fetch(`${base}/demo/info`)).json();
const browser = await launch();
const results = [];

function slug(name) {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Runs one check in fresh contexts; `fn` gets `newPage()` (each call: a new cookie jar).
async function check(name, fn) {
  const started = Date.now();
  const contexts = [];
  const newPage = async (options = {}) => {
    const context = await browser.newContext(options);
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    return context.newPage();
  };
  try {
    await withTimeout(fn(newPage), TEST_TIMEOUT_MS, name);
    results.push({ name, status: 'pass', ms: Date.now() - started });
    console.log(`PASS  ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    results.push({ name, status: 'fail', ms: Date.now() - started });
    console.log(`FAIL  ${name} (${Date.now() - started} ms)\n      ${String(error.stack || error).split('\n').slice(0, 6).join('\n      ')}`);
    fs.mkdirSync(shots, { recursive: true });
    for (const [i, context] of contexts.entries()) {
      for (const [j, page] of context.pages().entries()) {
        const file = path.join(shots, `${slug(name)}-${i}-${j}.png`);
        await page.screenshot({ path: file, fullPage: true }).catch(() => {});
        console.log(`      screenshot: ${file}`);
      }
    }
  } finally {
    for (const context of contexts) await context.close().catch(() => {});
  }
}

function skip(name, reason) {
  results.push({ name, status: 'skip', ms: 0 });
  console.log(`SKIP  ${name}: ${reason}`);
}

const sessionCookie = async (page) => (await page.context().cookies()).find((c) => c.name === COOKIE);
const who = (page) => page.textContent('#who');

// ---------------------------------------------------------------------------------------------

await check('login, and the session survives navigation and reload', async (newPage) => {
  const page = await newPage();
  await page.goto(`${base}/session`);
  assert.equal(new URL(page.url()).pathname, '/login', 'anonymous: sent to the login page');
  assert.equal(new URL(page.url()).searchParams.get('login'), '/session');
  await page.fill('#username', 'alice');
  await page.fill('#password', 'alice-demo-password');
  await Promise.all([page.waitForURL(`${base}/session`), page.click('#sign-in')]);
  assert.equal(await who(page), 'alice');
  assert.match(await page.textContent('#session'), /builds:read builds:write/);
  for (const link of ['/tokens', '/', '/session']) {
    await Promise.all([page.waitForURL(base + link), page.click(`header a[href="${link}"]`)]);
    assert.equal(await who(page), 'alice', `still signed in after following the link to ${link}`);
  }
  await page.reload();
  assert.equal(await who(page), 'alice', 'still signed in after a reload');
  assert.match(await page.textContent('#time-left'), /\d+s/);
});

await check('the stored cookie is __Host-, Secure, HttpOnly, SameSite=Lax; document.cookie cannot see it', async (newPage) => {
  const page = await newPage();
  // The raw Set-Cookie too: Playwright reports a missing SameSite as 'Lax', so the stored
  // cookie's sameSite alone cannot tell.
  const loginResponse = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/login');
  await signIn(page, base, 'bob');
  const setCookie = (await (await loginResponse).headerValues('set-cookie')).find((l) => l.startsWith(`${COOKIE}=`));
  assert.ok(setCookie, 'the login response sets the session cookie');
  const attributes = setCookie.slice(setCookie.indexOf(';'));
  assert.equal(attributes, '; Path=/; Secure; HttpOnly; SameSite=Lax', 'the attributes as sent');
  const cookie = await sessionCookie(page);
  assert.ok(cookie, 'the browser stored the session cookie');
  assert.equal(cookie.secure, true);
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');
  assert.equal(cookie.path, '/');
  assert.equal(cookie.domain, host, 'host-only: no Domain attribute');
  assert.equal(cookie.expires, -1, 'a browser-session cookie (no Max-Age)');
  const visible = await page.evaluate(() => document.cookie);
  assert.ok(!visible.includes(COOKIE), `document.cookie shows ${JSON.stringify(visible)}`);
  // The browser still sends it: a same-origin fetch is signed in.
  const me = await page.evaluate(async () => (await fetch('/api/me')).json());
  assert.equal(me.uid, 'bob');
  assert.equal(me.source, 'cookie');
});

await check('logout deletes the cookie from the browser, and a copy taken before is refused', async (newPage) => {
  const page = await newPage();
  await signIn(page, base, 'bob');
  const copy = await sessionCookie(page);
  assert.ok(copy);
  await Promise.all([page.waitForURL(/\/login\?signed_out=1$/), page.click('#logout')]);
  assert.equal(await sessionCookie(page), undefined, 'the deletion cookie removed it');
  assert.match(await page.textContent('#notice-ok'), /signed out/);
  await page.goto(`${base}/session`);
  assert.equal(new URL(page.url()).pathname, '/login');
  // Another browser holding the copy taken before sign-out: the session has ended (revocation
  // store), so the copy no longer opens it.
  const thief = await newPage();
  await thief.context().addCookies([copy]);
  await thief.goto(`${base}/session`);
  assert.equal(new URL(thief.url()).pathname, '/login', 'the copied cookie is refused after sign-out');
  assert.equal(await sessionCookie(thief), undefined, 'and deleted from that browser');
});

await check('the session page lists active sessions; one is ended, then "sign out other sessions"', async (newPage) => {
  const laptop = await newPage();
  const phone = await newPage();
  const tablet = await newPage();
  for (const page of [laptop, phone, tablet]) await signIn(page, base, 'alice');
  await laptop.goto(`${base}/session`);
  const rows = await laptop.locator('#active-sessions tr.active-session').count();
  assert.ok(rows >= 3, `at least the three sessions are listed (${rows})`);
  // End the phone's session from the laptop: its id is the phone's "this one" row.
  await phone.goto(`${base}/session`);
  const phoneId = await phone.locator('#this-session input[name=id]').getAttribute('value');
  const phoneRow = laptop.locator('#active-sessions tr.active-session', { has: laptop.locator(`input[value="${phoneId}"]`) });
  await Promise.all([laptop.waitForURL(/\/session\?ended=1$/), phoneRow.locator('button.end-session').click()]);
  await phone.goto(`${base}/session`);
  assert.equal(new URL(phone.url()).pathname, '/login', 'the ended session is signed out');
  await tablet.goto(`${base}/session`);
  assert.equal(await who(tablet), 'alice', 'the tablet is still signed in');
  await Promise.all([laptop.waitForURL(/others_ended=/), laptop.click('#logout-others')]);
  assert.equal(await who(laptop), 'alice', 'this session stays');
  await tablet.goto(`${base}/session`);
  assert.equal(new URL(tablet.url()).pathname, '/login', 'the other session is signed out');
});

await check(`idle expiry (demo idle timeout ${info.idle_timeout_seconds} s) leads back to the login page`, async (newPage) => {
  assert.ok(info.idle_timeout_seconds <= 10, 'the demo runs with a short idle timeout (DEMO_IDLE_TIMEOUT)');
  const page = await newPage();
  await signIn(page, base, 'bob');
  assert.equal(await who(page), 'bob');
  await page.waitForTimeout((info.idle_timeout_seconds + 1.5) * 1000);
  assert.ok(await sessionCookie(page), 'the browser still holds the (now expired) cookie');
  await page.goto(`${base}/session`);
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.match(await page.textContent('#notice-note'), /Please sign in/);
  assert.equal(await sessionCookie(page), undefined, 'the expired cookie was deleted');
});

await check('a session update past the cookie limit is refused visibly, and the session keeps working', async (newPage) => {
  const page = await newPage();
  await signIn(page, base, 'bob');
  await page.fill('#note', 'hello from the browser');
  await Promise.all([page.waitForURL(/saved=1/), page.click('#save-note')]);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/session/note')),
    page.click('#grow-note'),
  ]);
  assert.equal(response.status(), 413);
  // The refusal may carry a routine renewal of the unchanged session, never a deletion.
  const setCookie = (await response.headerValue('set-cookie')) || '';
  assert.ok(!/Max-Age=0/i.test(setCookie), 'the refusal does not delete the cookie');
  await page.waitForLoadState();
  assert.ok(await page.isVisible('#notice-error'));
  const refusal = await page.textContent('#notice-error');
  assert.match(refusal, /Refused: too large for a cookie/);
  // One consistent story: the browser's cookie limit, and the data it leaves after sealing.
  assert.match(refusal, /at most 4,096 bytes for a cookie/);
  assert.match(refusal, /holds at most 3,032 bytes of data/);
  const kept = await sessionCookie(page);
  assert.ok(kept, 'the browser still holds its session cookie');
  assert.ok(COOKIE.length + 1 + kept.value.length <= 4096, 'within the 4,096-byte limit');
  await page.goto(`${base}/session`);
  assert.equal(await who(page), 'bob', 'still signed in');
  assert.equal(await page.inputValue('#note'), 'hello from the browser', 'the old note is intact');
});

await check('a personal access token: created with scopes, shown once, used by the API, revoked', async (newPage) => {
  const page = await newPage();
  await signIn(page, base, 'bob', '/login?login=/tokens');
  assert.equal(new URL(page.url()).pathname, '/tokens');
  await page.fill('#token-name', 'browser test');
  await page.click('#create-token');
  const token = (await page.textContent('#new-token')).trim();
  // (Secrets never go into an assertion message.)
  assert.ok(/^demo_pat_[A-Za-z0-9_-]{43}$/.test(token), 'the token has the demo_pat_ format');
  // A separate client with no cookies: the token alone.
  const api = await request.newContext();
  const call = (method) => api.fetch(`${base}/api/builds`, { method, headers: { Authorization: `Bearer ${token}` } });
  let res = await call('GET');
  assert.equal(res.status(), 200);
  assert.equal((await res.json()).caller.source, 'bearer');
  assert.equal((await call('POST')).status(), 403, 'bob has no builds:write to give');
  await page.goto(`${base}/tokens`);
  assert.ok(!(await page.content()).includes(token), 'never shown again');
  const row = page.locator('tr.token[data-name="browser test"]');
  await Promise.all([page.waitForURL(/revoked=1/), row.locator('button.revoke').click()]);
  assert.equal(await row.locator('.status').textContent(), 'revoked');
  res = await call('GET');
  assert.equal(res.status(), 401);
  assert.match(res.headers()['www-authenticate'], /invalid_token/);
  await api.dispose();
});

await check('the admin page needs the admin role', async (newPage) => {
  const bob = await newPage();
  await signIn(bob, base, 'bob');
  const res = await bob.goto(`${base}/admin`);
  assert.equal(res.status(), 403);
  assert.match(await bob.textContent('h1'), /Not allowed/);
  assert.match(await bob.textContent('main'), /admin/);
  const alice = await newPage();
  await signIn(alice, base, 'alice');
  assert.equal((await alice.goto(`${base}/admin`)).status(), 200);
  assert.match(await alice.textContent('main'), /Role-account tokens/);
});

await check('"sign out everywhere" ends the session in another browser', async (newPage) => {
  const laptop = await newPage();
  const phone = await newPage();
  await signIn(laptop, base, 'alice');
  await signIn(phone, base, 'alice');
  await Promise.all([laptop.waitForURL(/everywhere=1/), laptop.click('#logout-everywhere')]);
  await phone.goto(`${base}/session`);
  assert.equal(new URL(phone.url()).pathname, '/login', 'the other browser is signed out');
  await signIn(phone, base, 'alice');
  assert.equal(await who(phone), 'alice', 'signing in again works');
});

await check('long-running work shows progress, then its outcome', async (newPage) => {
  const page = await newPage();
  await signIn(page, base, 'alice', '/login?login=/admin');
  await Promise.all([page.waitForURL(/\/admin\/jobs\/\d+$/), page.click('#purge')]);
  assert.ok(await page.isVisible('#progress'), 'a progress bar while it runs');
  await page.waitForSelector('#job-done', { timeout: 20_000 });
  assert.match(await page.textContent('#notice-ok'), /Deleted \d+ expired or revoked tokens/);
});

if (process.env.DEMO_BIN && process.env.DEMO_DATA_DIR) {
  await check('a key rotation while signed in logs no one out', async (newPage) => {
    // The admin page gives the whole command, with the --data-dir this demo runs with.
    const admin = await newPage();
    await signIn(admin, base, 'alice', '/login?login=/admin');
    const command = (await admin.textContent('#rotate-command')).trim();
    const args = command.split(' -- ')[1].split(' ');
    assert.deepEqual(args, ['rotate-key', '--data-dir', process.env.DEMO_DATA_DIR], command);
    const page = await newPage();
    await signIn(page, base, 'bob');
    const keys = async () => (await page.textContent('#session tr:last-child td')).trim();
    const before = await keys();
    await promisify(execFile)(process.env.DEMO_BIN, args, { timeout: 10_000 });
    let after = before;
    for (let i = 0; i < 10 && after === before; i++) {
      await page.waitForTimeout(500);
      await page.reload();
      assert.equal(await who(page), 'bob', 'still signed in');
      after = await keys();
    }
    assert.notEqual(after, before, 'the demo picked up the new key');
    assert.match(after, /1 previous|2 previous|3 previous/);
    await page.reload();
    assert.equal(await who(page), 'bob', 'still signed in with the re-sealed cookie');
  });
} else {
  skip('a key rotation while signed in logs no one out', 'DEMO_BIN and DEMO_DATA_DIR are not set');
}

await check('Secure is enforced: over plain HTTP on a non-loopback name, Chromium keeps no session', async () => {
  // demo.test resolves to the demo, but http://demo.test is not a secure context (loopback is).
  const port = new URL(base).port;
  const other = await launch([`--host-resolver-rules=MAP demo.test 127.0.0.1:${port}`]);
  try {
    const page = await other.newPage();
    await page.goto(`http://demo.test:${port}/login`);
    assert.equal(await page.evaluate(() => window.isSecureContext), false);
    await page.fill('#username', 'bob');
    await page.fill('#password', 'bob-demo-password');
    await Promise.all([page.waitForURL(/\/login\?login=/), page.click('#sign-in')]);
    assert.deepEqual(await page.context().cookies(), [], 'the Secure cookie was refused');
  } finally {
    await other.close();
  }
});

// OAuth login round trip: the crate's /auth service against the mock OAuth server
// (scripts/browser-test.sh starts it and builds the demo with the `oauth` feature).
await check('the OAuth login round trip works against the mock OAuth server', async (newPage) => {
  assert.ok(info.oauth.configured, 'DEMO_OAUTH_ISSUER is set by scripts/browser-test.sh');
  assert.ok(info.oauth.available, 'the demo is built with the oauth feature');
  const page = await newPage();
  // A guarded page sends the browser to the login page, which offers the provider.
  await page.goto(`${base}/login?login=/session`);
  await Promise.all([page.waitForURL(`${base}/session`, { timeout: 20_000 }), page.click('#oauth-login')]);
  assert.equal(await who(page), 'oauth:johndoe', 'signed in as the provider\'s subject, in its own namespace');
  const cookie = await sessionCookie(page);
  assert.ok(cookie && cookie.httpOnly && cookie.secure, 'a sealed session cookie');
  // The flow cookie is gone after the callback.
  const names = (await page.context().cookies()).map((c) => c.name);
  assert.deepEqual(names.filter((n) => n.includes('auth-')), [], 'no flow cookie left');
  // The session survives a reload, and /auth shows it as JSON.
  await page.reload();
  assert.equal(await who(page), 'oauth:johndoe');
  const status = await page.evaluate(async () => (await fetch('/auth')).json());
  assert.equal(status.uid, 'oauth:johndoe');
  assert.equal(status.source, 'cookie');
  // A provider account can make a personal access token like a local one.
  await page.goto(`${base}/tokens`);
  await page.fill('#token-name', 'oauth user token');
  await page.click('#create-token');
  const token = (await page.textContent('#new-token')).trim();
  assert.ok(/^demo_pat_[A-Za-z0-9_-]{43}$/.test(token), 'a token was created');
  const api = await request.newContext();
  try {
    const res = await api.fetch(`${base}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status(), 200);
    assert.equal((await res.json()).uid, 'oauth:johndoe');
  } finally {
    await api.dispose();
  }
});

await browser.close();
const count = (s) => results.filter((r) => r.status === s).length;
const total = results.reduce((t, r) => t + r.ms, 0);
console.log(`\nbrowser test: ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped (${(total / 1000).toFixed(1)} s in checks)`);
process.exit(count('fail') > 0 ? 1 : 0);
