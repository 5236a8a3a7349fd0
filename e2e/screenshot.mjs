// Takes the README's screenshot of the demo's session page: node screenshot.mjs <out.png>
// (scripts/browser-test.sh --readme-screenshot starts the demo and sets DEMO_URL).
import { demoUrl, launch, signIn } from './lib.mjs';

const out = process.argv[2];
if (!out) throw new Error('usage: node screenshot.mjs <out.png>');
const base = demoUrl();
const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 940 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await signIn(page, base, 'alice');
  await page.fill('#note', 'dark mode, please');
  await Promise.all([page.waitForURL(/saved=1/), page.click('#save-note')]);
  await page.goto(`${base}/session`);
  await page.screenshot({ path: out, fullPage: false });
  console.log(`screenshot: ${out}`);
} finally {
  await browser.close();
}
