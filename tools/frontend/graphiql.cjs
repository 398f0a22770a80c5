// GraphiQL in a real headless Chromium (Debian's chromium, driven by puppeteer-core), against
// a running `carnet serve` in development:
//   CARNET_FRONTEND_TOOLS=<install.sh's folder> node graphiql.cjs URL TOKEN
// It loads the page with every request off the server's origin refused (offline: no CDN),
// opens the Docs panel and reads the root types it lists, reads the headers GraphiQL
// pre-filled, types TOKEN into the headers tab and a query into the editor, runs it and reads
// the result, reloads and reads the headers again. Prints one JSON object with what it saw;
// the Rust test judges it. Exit code 1 on a failure to drive the page.
const path = require('path');
const fs = require('fs');
const os = require('os');
const tools = process.env.CARNET_FRONTEND_TOOLS;
if (!tools) throw new Error('CARNET_FRONTEND_TOOLS must name the folder install.sh filled');
const puppeteer = require('module').createRequire(path.join(tools, 'package.json'))('puppeteer-core');

const [url, token] = process.argv.slice(2);
const origin = new URL(url).origin;
const STEP = 15000;

async function editorValue(page, selector) {
  return page.$eval(selector, (el) => el.CodeMirror.getValue());
}

async function typeInto(page, selector, text) {
  await page.click(selector);
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(text);
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'carnet-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    userDataDir: profile,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
    ],
  });
  const seen = { offOrigin: [], failed: [], consoleErrors: [] };
  try {
    const page = await browser.newPage();
    await page.setRequestInterception(true);
    page.on('request', (request) => {
      const target = request.url();
      if (target.startsWith(origin) || target.startsWith('data:') || target.startsWith('blob:')) {
        request.continue();
      } else {
        seen.offOrigin.push(target);
        request.abort();
      }
    });
    page.on('requestfailed', (request) => {
      if (request.url().startsWith(origin)) seen.failed.push(request.url());
    });
    page.on('console', (message) => {
      if (message.type() === 'error') seen.consoleErrors.push(message.text());
    });

    await page.goto(url, { waitUntil: 'load', timeout: STEP });
    await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: STEP });

    // the Docs panel: it lists the root types once the schema is loaded
    await page.click('button[aria-label="Show Documentation Explorer"]');
    await page.waitForFunction(
      () => document.querySelector('.graphiql-doc-explorer') &&
        /Query/.test(document.querySelector('.graphiql-doc-explorer').innerText),
      { timeout: STEP },
    );
    seen.docs = await page.$eval('.graphiql-doc-explorer', (el) => el.innerText);

    // the headers tab, as the server pre-filled it
    await page.click('button[data-name="headers"]');
    // the tab shown: its editor is the one not hidden
    const headers = '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror';
    await page.waitForSelector(headers, { timeout: STEP });
    seen.prefilledHeaders = await editorValue(page, headers);

    // a token typed in the headers tab, a query typed in the editor, run
    await typeInto(page, headers, `{"Authorization": "Bearer ${token}"`);
    seen.typedHeaders = await editorValue(page, headers);
    await typeInto(page, '.graphiql-query-editor .CodeMirror', '{ me { sub roles { code } } academies { code');
    seen.typedQuery = await editorValue(page, '.graphiql-query-editor .CodeMirror');
    await page.click('.graphiql-execute-button');
    await page.waitForFunction(
      () => {
        const el = document.querySelector('.graphiql-response .CodeMirror');
        return el && /"(data|errors)"/.test(el.CodeMirror.getValue());
      },
      { timeout: STEP },
    );
    seen.result = JSON.parse(await editorValue(page, '.graphiql-response .CodeMirror'));

    // a reload keeps the headers (localStorage)
    await page.reload({ waitUntil: 'load', timeout: STEP });
    await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: STEP });
    await page.click('button[data-name="headers"]');
    await page.waitForSelector(headers, { timeout: STEP });
    seen.headersAfterReload = await editorValue(page, headers);
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(JSON.stringify(seen));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
