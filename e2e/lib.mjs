// Shared by the browser test and the README screenshot: launching Debian's Chromium through
// playwright-core, and signing in to the demo.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Chromium's own background traffic is refused on this network; these flags keep it quiet.
// Playwright's `launch` starts it with a fresh temporary profile (its own --user-data-dir).
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    timeout: 30_000,
  });
}

export function demoUrl() {
  const url = process.env.DEMO_URL;
  if (!url) throw new Error('DEMO_URL is not set (scripts/browser-test.sh sets it)');
  return url.replace(/\/$/, '');
}

export const PASSWORDS = { alice: 'alice-demo-password', bob: 'bob-demo-password' };

// Signs in through the form from `startPath` and waits for the page it lands on.
export async function signIn(page, base, uid, startPath = '/login') {
  await page.goto(base + startPath);
  await page.fill('#username', uid);
  await page.fill('#password', PASSWORDS[uid]);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('#sign-in')]);
}
