// The web console as a person uses it: Debian's Chromium (playwright-core)
// against a live farm (in-process coordinator with its HTTP console on a free
// port, sim workers as processes, real gRPC). Each step waits for what the
// page shows, never for a fixed time; screenshots land in out/console-screenshots/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createLogger, Registry } from '@latentfarm/common';
import { defaultCoordinatorConfig, startCoordinator, type Coordinator } from '@latentfarm/coordinator';
import { JobState } from '@latentfarm/proto';
import { runCli, tempDir } from '@latentfarm/testkit';
import { a11yProblems, focusOutline } from './a11y.js';
import { consolePage, launchChromium, screenshot } from './browser.js';
import { prompts, spec, startTestFarm, type TestFarm } from './farm.js';

// What the functions handed to the page see of it (they run in the browser; this Node project has no DOM types).
// Functions, not strings: the console's Content-Security-Policy forbids evaluating strings, as it should.
interface PageElement { value: number; max: number; complete: boolean; naturalWidth: number; textContent: string | null; scrollTop: number; scrollHeight: number }
declare const document: { querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement> };

describe('the web console in a browser', () => {
  let farm: TestFarm;
  let browser: Browser;
  let page: Page;
  let url: string;
  const errors: string[] = [];
  let submittedJob = '';
  let workerIds: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    // Steps slow enough that a job's progress is seen between its first and last image.
    farm = await startTestFarm(2, { maxBatch: 4, stepBaseMs: 25, stepPerImageMs: 1 }, { httpPort: 0 });
    url = farm.coordinator.consoleUrl ?? '';
    workerIds = (await farm.client.getFarmStatus()).workers.map((w) => w.id);
    page = await consolePage(browser, errors);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await farm?.stop();
  });

  it('serves the console on the port it reports, with no log-in on a local farm', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    await page.goto(url);
    await page.getByRole('heading', { name: 'Jobs', level: 1 }).waitFor();
    await expect(page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Jobs' }).getAttribute('aria-current')).resolves.toBe('page');
    // The keyboard's first stop is the skip link, and focus is drawn.
    await page.keyboard.press('Tab');
    await expect(focusOutline(page)).resolves.toEqual({ tag: 'a', style: 'solid', width: '3px' });
    await page.keyboard.press('Tab');
    await expect(focusOutline(page)).resolves.toMatchObject({ tag: 'a', style: 'solid' });
  });

  it('submits pasted prompts from the page after showing their cost', async () => {
    await page.getByRole('link', { name: 'Submit' }).click();
    await page.getByLabel('Prompts').fill('a lighthouse at dusk\na red fox in snow\n# a comment\na paper boat');
    await page.getByLabel('Images per prompt').fill('8');
    await page.getByLabel('Width').fill('64');
    await page.getByLabel('Height').fill('64');
    await page.getByLabel('Steps', { exact: true }).fill('12');
    await page.getByLabel('Seed').fill('4242');
    await page.getByLabel('Labels').fill('project=console-e2e');
    // The estimate comes from the farm's cost model before anything is submitted.
    await page.locator('#estimate').getByText('3 prompts · 24 images').waitFor();
    expect(await farm.client.listJobs({ pageSize: 10 })).toMatchObject({ jobs: [] });
    await screenshot(page, '1-submit');
    await expect(a11yProblems(page)).resolves.toEqual([]);
    await page.getByRole('button', { name: 'Submit job' }).click();
    await page.waitForURL(/#\/jobs\/j[a-z0-9]+$/);
    submittedJob = /#\/jobs\/(j[a-z0-9]+)$/.exec(page.url())?.[1] ?? '';
    const job = await farm.client.getJob(submittedJob);
    expect(job.images?.total).toBe(24);
    expect(job.spec?.labels).toEqual({ project: 'console-e2e' });
    expect(job.spec?.params?.seed).toBe(4242);
  });

  it('shows the job\'s progress moving, then every image as it finishes', async () => {
    const bar = page.getByRole('progressbar', { name: `Progress of job ${submittedJob}` });
    // Moving: the bar is seen part-way, neither empty nor full.
    await page.waitForFunction((name) => {
      const el = document.querySelector(`progress[aria-label="${name}"]`);
      return el !== null && el.value > 0 && el.value < el.max;
    }, `Progress of job ${submittedJob}`);
    await screenshot(page, '2-gallery-running');
    await page.locator('.state').getByText('SUCCEEDED').waitFor();
    await expect(bar.getAttribute('aria-valuetext')).resolves.toContain('24/24 images');
    await page.waitForFunction(() => document.querySelectorAll('[data-image] img').length === 24);
    // Every thumbnail is a real decoded image served by the coordinator.
    await page.waitForFunction(() => [...document.querySelectorAll('[data-image] img')].every((i) => i.complete && i.naturalWidth === 64));
    await screenshot(page, '3-gallery');
    await expect(a11yProblems(page)).resolves.toEqual([]);
  });

  it('opens an image full size with the parameters it was rendered with', async () => {
    const cell = page.locator('[data-image]').first();
    const imageId = await cell.getAttribute('data-image') ?? '';
    // By keyboard: a thumbnail is a button, named by its prompt; Enter opens it, Escape closes it.
    await cell.getByRole('button').focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Image' });
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await cell.getByRole('button').click();
    await dialog.waitFor();
    const { info } = await farm.client.getImage(imageId);
    const value = (name: string) => dialog.locator(`dd[data-field="${name}"]`).textContent();
    await expect(value('Prompt')).resolves.toBe(info.prompt);
    await expect(value('Seed')).resolves.toBe(String(info.params?.seed));
    await expect(value('Size')).resolves.toBe('64×64');
    await expect(value('Steps')).resolves.toBe('12');
    await expect(value('CFG')).resolves.toBe(String(info.params?.cfgScale));
    await expect(value('Worker')).resolves.toBe(info.workerId);
    expect(workerIds).toContain(info.workerId);
    await page.waitForFunction(() => document.querySelector('dialog img')?.naturalWidth === 64);
    await screenshot(page, '4-image');

    // Render again: a new job with this image's prompt, seed and parameters.
    await dialog.getByRole('button', { name: 'Render again' }).click();
    await page.waitForURL((u) => /#\/jobs\/j[a-z0-9]+$/.test(u.hash) && !u.hash.endsWith(submittedJob));
    const again = /#\/jobs\/(j[a-z0-9]+)$/.exec(page.url())?.[1] ?? '';
    await page.locator('.state').getByText('SUCCEEDED').waitFor();
    const copy = await farm.client.getImage(`${again}/0`);
    expect(copy.info).toMatchObject({ prompt: info.prompt, negativePrompt: info.negativePrompt, params: info.params });
  });

  it('keeps a large job\'s gallery light: only the images in view are in the page', async () => {
    const { job } = await farm.client.submitJob(spec({ params: { ...spec().params!, steps: 1 } }), prompts(100, 10));
    await page.goto(`${url}#/jobs/${job!.id}`);
    await page.locator('.state').getByText('SUCCEEDED').waitFor();
    await page.waitForFunction(() => document.querySelector('.grid-inner') !== null);
    const grid = page.getByRole('region', { name: `Images of job ${job!.id}` });
    // 1,000 images, a few rows of them in the page.
    expect(await page.locator('[data-image]').count()).toBeLessThan(120);
    await grid.evaluate((el: PageElement) => { el.scrollTop = el.scrollHeight; });
    await page.locator('[data-image]').filter({ has: page.getByRole('button', { name: /^Image \d+: prompt 99$/ }) }).first().waitFor();
    expect(await page.locator('[data-image]').count()).toBeLessThan(120);
    await screenshot(page, '5-gallery-large');
  });

  it('cancels a job from the jobs page', async () => {
    // Big enough that it is still running whatever the machine's pace: cancelling is what ends it.
    const { job } = await farm.client.submitJob(spec({ labels: { project: 'to-cancel' }, params: { ...spec().params!, steps: 50 } }), prompts(200, 4));
    await page.goto(`${url}#/jobs?label=project%3Dto-cancel`);
    const row = page.locator(`tr[data-job="${job!.id}"]`);
    await row.waitFor();
    // The jobs page follows its running jobs' events: the bar moves without a reload.
    await page.waitForFunction((name) => (document.querySelector(`progress[aria-label="${name}"]`)?.value ?? 0) > 0, `Progress of job ${job!.id}`);
    await screenshot(page, '6-jobs');
    await expect(a11yProblems(page)).resolves.toEqual([]);
    await row.getByRole('button', { name: `Cancel job ${job!.id}` }).click();
    await row.locator('.state').getByText('CANCELLED').waitFor();
    expect((await farm.client.getJob(job!.id)).state).toBe(JobState.CANCELLED);
    // The filter kept the other jobs off the page.
    expect(await page.locator('tr[data-job]').count()).toBe(1);
  });

  it('filters jobs by state', async () => {
    await page.goto(`${url}#/jobs?state=SUCCEEDED`);
    await page.locator(`tr[data-job="${submittedJob}"]`).waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll('tr[data-job] .state')].every((s) => s.textContent === 'SUCCEEDED'));
    expect(await page.getByLabel('State').inputValue()).toBe('SUCCEEDED');
  });

  it('shows the farm: workers with their models, batch fill and heartbeat, and the queue per model', async () => {
    await page.getByRole('link', { name: 'Farm' }).click();
    for (const id of workerIds) await page.locator(`tr[data-worker="${id}"]`).waitFor();
    const row = page.locator(`tr[data-worker="${workerIds[0]}"]`);
    await expect(row.locator('td').first().textContent()).resolves.toBe('sim');
    await expect(row.getByRole('meter', { name: `Batch fill of ${workerIds[0]}` }).getAttribute('max')).resolves.toBe('4');
    await expect(row.locator('td').nth(4).textContent()).resolves.toMatch(/ago$/);
    await page.getByRole('table', { name: 'Queue per model' }).getByRole('rowheader', { name: /sim/ }).waitFor();
    await screenshot(page, '7-farm');
    await expect(a11yProblems(page)).resolves.toEqual([]);
  });

  it('reached every page without a script error', () => {
    expect(errors).toEqual([]);
  });
});

describe('the web console with API keys on', () => {
  let KEY = '';
  const keys = { a: '', b: '' };
  let coordinator: Coordinator;
  let dir: { path: string; remove(): Promise<void> };
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
    dir = await tempDir();
    // Keys on (the default): the farm makes its first admin key at start; the admin makes two tenants' keys.
    coordinator = await startCoordinator(
      defaultCoordinatorConfig({ port: 0, metricsPort: -1, httpPort: 0, dataDir: dir.path }),
      { log: createLogger('test', 'silent'), registry: new Registry() },
    );
    KEY = coordinator.firstAdminKey ?? '';
    const cli = async (args: string[]) => {
      const r = await runCli([...args, '--coordinator', coordinator.address], { LATENTFARM_API_KEY: KEY });
      expect(r.code, r.output).toBe(0);
      return r.output;
    };
    for (const t of ['a', 'b'] as const) {
      await cli(['tenant', 'create', t, '--credits', '1000']);
      keys[t] = /lf_[A-Za-z0-9_-]+/.exec(await cli(['key', 'create', '--role', 'tenant', '--tenant', t]))?.[0] ?? '';
    }
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await coordinator?.close();
    await dir?.remove();
  });

  it('asks for an API key, refuses a wrong one, keeps the session in a cookie the page cannot read, and logs out', async () => {
    const page = await consolePage(browser, []);
    await page.goto(coordinator.consoleUrl ?? '');
    await page.waitForURL(/#\/login$/);
    const key = page.getByLabel('API key');
    await key.fill('not-a-key');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').getByText('that API key is not valid').waitFor();
    await key.fill(KEY);
    await screenshot(page, '0-login');
    await expect(a11yProblems(page)).resolves.toEqual([]);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Jobs', level: 1 }).waitFor();
    await page.getByText('No jobs match.').waitFor();
    const cookies = await page.context().cookies();
    expect(cookies).toEqual([expect.objectContaining({ name: 'latentfarm_session', httpOnly: true, sameSite: 'Strict' })]);
    expect(cookies[0]?.value).not.toContain(KEY);
    expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).toBe('');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/#\/login$/);
    await page.getByRole('link', { name: 'Farm' }).click();
    await page.waitForURL(/#\/login$/);
  });

  it('shows two tenants, each logged in with its own key, only their own jobs', async () => {
    const submit = async (key: string, prompt: string) => {
      const res = await fetch(`${coordinator.consoleUrl}api/jobs`, {
        method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: prompt, model: 'sim', width: 64, height: 64, steps: 2 }),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    const jobA = await submit(keys.a, 'tenant a prompt');
    const jobB = await submit(keys.b, 'tenant b prompt');
    const pages: Record<'a' | 'b', Page> = { a: await consolePage(browser, []), b: await consolePage(browser, []) };
    for (const t of ['a', 'b'] as const) {
      const page = pages[t];
      await page.goto(coordinator.consoleUrl ?? '');
      await page.getByLabel('API key').fill(keys[t]);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.locator('tr[data-job]').first().waitFor();
    }
    expect(await pages.a.locator('tr[data-job]').evaluateAll((rows) => rows.map((r) => (r as unknown as { getAttribute(n: string): string }).getAttribute('data-job')))).toEqual([jobA]);
    expect(await pages.b.locator('tr[data-job]').evaluateAll((rows) => rows.map((r) => (r as unknown as { getAttribute(n: string): string }).getAttribute('data-job')))).toEqual([jobB]);
    await screenshot(pages.a, '8-tenant-a');
    // Tenant A's credits on the Farm page: the balance the ledger holds, the grant, and its job's reservation linking to the job.
    const ledger = await (await fetch(`${coordinator.consoleUrl}api/credits`, { headers: { authorization: `Bearer ${keys.a}` } })).json() as { account: { balance: number } };
    expect(ledger.account.balance).toBeLessThan(1000);
    await pages.a.getByRole('link', { name: 'Farm' }).click();
    const balance = pages.a.locator('[data-credits="balance"]');
    await balance.getByText('credits left').waitFor();
    expect(Number(await balance.locator('strong').textContent())).toBeCloseTo(ledger.account.balance, 6);
    await pages.a.locator('#credits-summary').getByText('1000 granted').waitFor();
    const credits = pages.a.getByRole('table', { name: 'Credits' });
    await credits.getByRole('row', { name: /Reserved/ }).getByRole('link', { name: jobA }).waitFor();
    await credits.getByRole('row', { name: /Granted/ }).waitFor();
    await screenshot(pages.a, '9-tenant-credits');
    await expect(a11yProblems(pages.a)).resolves.toEqual([]);
    // Tenant B opening tenant A's job finds nothing there.
    await pages.b.goto(`${coordinator.consoleUrl}#/jobs/${jobA}`);
    await pages.b.getByRole('alert').getByText(`job "${jobA}" does not exist`).waitFor();
  });
});
