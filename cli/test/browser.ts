// Debian's Chromium, driven by playwright-core (which downloads no browser of
// its own), for the console's end-to-end tests. A missing Chromium fails the
// test with one line saying how to install it; CI installs it (.ci/run).
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot } from '@latentfarm/testkit';

const CHROMIUM = process.env['LATENTFARM_CHROMIUM'] ?? '/usr/bin/chromium';

/** Where the tests leave their screenshots (git-ignored: out/). */
export const SCREENSHOTS = join(repoRoot, 'out', 'console-screenshots');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set LATENTFARM_CHROMIUM to its path)`);
  }
  await mkdir(SCREENSHOTS, { recursive: true });
  // Playwright gives each launch a fresh, empty profile; these flags keep Chromium off the network
  // (this machine has none) so it makes no connections of its own.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A page that fails the test on any error the console's scripts throw or log. */
export async function consolePage(browser: Browser, errors: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console error: ${msg.text()}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) errors.push(`${res.status()} from ${res.url()}`);
  });
  return page;
}

export const screenshot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
