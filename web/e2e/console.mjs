// The web console in a real browser: Debian's chromium, driven by
// playwright-core. web/console_test.go starts a daemon (devmongo seeded
// with tasks, the embedded NATS) and runs this script against it with
//
//   BASE_URL   the daemon's HTTP address, http://127.0.0.1:<port>
//   API_TOKEN  its apiToken
//   OUT_DIR    where the downloaded chunk goes
//   SHOTS_DIR  where the screenshots go (console-desktop.png, console-phone.png)
//   CHROMIUM   the browser (default /usr/bin/chromium)
//
// It prints one JSON line on stdout for the Go test to check, and logs to
// stderr. Any failure exits non-zero.
import { chromium } from 'playwright-core';
import path from 'node:path';

const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(name + ' is not set');
  return v;
};
const base = need('BASE_URL');
const token = need('API_TOKEN');
const outDir = need('OUT_DIR');
const shotsDir = need('SHOTS_DIR');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const log = (...args) => console.error('[e2e]', ...args);
const TIMEOUT = 120_000;

// poll returns once fn() is truthy, checking every 50 ms.
async function poll(what, fn, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// startExport fills the form, submits it and returns the daemon's reply.
async function startExport(page, fields) {
  for (const [label, value] of Object.entries(fields)) {
    const control = page.getByLabel(label, { exact: true });
    if ((await control.evaluate((el) => el.tagName)) === 'SELECT') await control.selectOption(value);
    else await control.fill(value);
  }
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/exports'),
    page.getByRole('button', { name: 'Start export' }).click(),
  ]);
  const body = await resp.json();
  if (resp.status() !== 202) throw new Error('start: ' + resp.status() + ' ' + JSON.stringify(body));
  return body;
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // Root in a container: no sandbox; no GPU; /dev/shm may be small.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const result = { pageErrors: [] };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (err) => result.pageErrors.push(err.message));
  page.on('console', (msg) => log('console.' + msg.type() + ':', msg.text()));
  page.on('dialog', (d) => d.accept());

  const resp = await page.goto(base + '/');
  result.csp = resp.headers()['content-security-policy'] || '';

  // Sign in with the keyboard: the token field has the focus.
  await page.getByLabel('API token').waitFor();
  result.tokenFocused = await page.evaluate(() => document.activeElement && document.activeElement.id === 'token');
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
  await page.locator('#conn[data-state="live"]').waitFor();
  log('signed in; the event stream is live');

  // A request the daemon refuses: the error stands next to its field,
  // which is marked invalid and has the focus.
  await page.getByLabel('Records per chunk').fill('-5');
  await page.getByRole('button', { name: 'Start export' }).click();
  const fieldError = page.locator('[id="e-chunkRecords"]');
  await poll('the field error', async () => (await fieldError.textContent()).trim() !== '');
  result.fieldError = (await fieldError.textContent()).trim();
  result.fieldInvalid = await page.getByLabel('Records per chunk').getAttribute('aria-invalid');
  result.fieldFocused = await page.evaluate(() => document.activeElement && document.activeElement.id === 'f-chunk');
  log('field error:', result.fieldError);

  // The first export: completed tasks as gzip CSV, in chunks of 500.
  const started = await startExport(page, {
    Status: 'completed', Format: 'csv', Compression: 'gzip', 'Records per chunk': '500',
  });
  result.first = started.id;
  log('first export', result.first);
  const first = page.locator('[id="x-' + result.first + '"]');
  result.seen = [];
  await poll('the first export to complete', async () => {
    const records = Number(await first.getAttribute('data-records'));
    if (result.seen[result.seen.length - 1] !== records) result.seen.push(records);
    return (await first.getAttribute('data-state')) === 'completed';
  });
  result.firstBar = await first.locator('progress').evaluate((el) => ({ value: el.value, max: el.max }));
  log('first export completed; records seen', result.seen.join(' '));

  // The README's adapter: handlers written for the old service's socket
  // events, fed by an EventSource on the reply's signed eventsUrl, get
  // every event again (the log replays from seq 1) up to export-completed.
  await page.addScriptTag({ url: '/console/socket.js' });
  result.socketEvents = await page.evaluate((url) => new Promise((resolve, reject) => {
    const seen = [];
    const socket = exportSocket(url);
    for (const name of ['export-queued', 'export-fetching', 'export-processing', 'export-file-generation', 'export-finalizing']) {
      socket.on(name, (data) => seen.push(name + ':' + data.recordCount));
    }
    socket.on('export-failed', (data) => reject(new Error('export-failed: ' + data.error)));
    socket.on('export-completed', (data) => {
      seen.push('export-completed:' + data.recordCount);
      resolve(seen);
    });
    setTimeout(() => reject(new Error('no export-completed; saw ' + seen.join(' '))), 30000);
  }), started.eventsUrl);
  log('old-style handlers got', result.socketEvents.length, 'events');

  // Download its first chunk from the list of chunks.
  await first.locator('summary').click();
  const link = first.locator('.chunk-list a').first();
  await link.waitFor();
  result.chunkName = (await link.textContent()).trim();
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  result.chunkFile = path.join(outDir, 'chunk-download');
  await download.saveAs(result.chunkFile);
  result.suggested = download.suggestedFilename();
  log('downloaded', result.chunkName, 'as', result.suggested);

  // The second export: everything as ndjson in chunks of 10, slow enough
  // to be cancelled while it runs.
  await page.getByLabel('Status').selectOption('');
  result.second = (await startExport(page, {
    Format: 'ndjson', Compression: 'zstd', 'Records per chunk': '10',
  })).id;
  log('second export', result.second);
  const second = page.locator('[id="x-' + result.second + '"]');
  const moving = [];
  await poll('the second export to move', async () => {
    const records = Number(await second.getAttribute('data-records'));
    if (moving[moving.length - 1] !== records) moving.push(records);
    return moving.filter((n) => n > 0).length >= 2;
  });
  result.secondSeen = moving;

  await page.screenshot({ path: path.join(shotsDir, 'console-desktop.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(shotsDir, 'console-phone.png'), fullPage: true });
  result.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.setViewportSize({ width: 1280, height: 900 });

  // Cancel it with the keyboard.
  const cancel = second.getByRole('button', { name: 'Cancel export ' + result.second });
  await cancel.focus();
  await page.keyboard.press('Enter');
  await poll('the second export to be cancelled', async () => (await second.getAttribute('data-state')) === 'cancelled');
  result.resumeShown = await second.getByRole('button', { name: 'Resume export ' + result.second }).isVisible();
  log('second export cancelled');
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
