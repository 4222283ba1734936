// A worker in Kubernetes keeps its pod's deletion cost current: its images in
// hand, so a scale-in removes idle workers first. No cluster runs here: an
// HTTPS server with a self-signed certificate (made with the openssl CLI)
// stands in for the API server's pod endpoint and records what a real worker
// process sends it, with the in-cluster environment pointed at it.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JobState } from '@latentfarm/proto';
import { spawnCli, tempDir, type Proc } from '@latentfarm/testkit';
import { collect, prompts, spec, startTestFarm, workersConnected, type TestFarm } from './farm.js';

const ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

interface Patch { method: string; url: string; contentType: string; authorization: string; body: unknown }

const haveOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!haveOpenssl)('pod-deletion-cost (openssl CLI for the test certificate)', () => {
  let farm: TestFarm | undefined;
  let api: Server | undefined;
  let worker: Proc | undefined;
  const dirs: { remove(): Promise<void> }[] = [];
  afterEach(async () => {
    worker?.kill('SIGKILL');
    await worker?.exited();
    await farm?.stop();
    api?.close();
    for (const d of dirs.splice(0)) await d.remove();
    farm = undefined;
    api = undefined;
    worker = undefined;
  });

  it('PATCHes its own pod with a merge patch and the service-account token: the cost rises while busy and falls when idle', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const sa = join(dir.path, 'serviceaccount');
    await mkdir(sa);
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=kubernetes',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir.path, 'key.pem'), '-out', join(sa, 'ca.crt'),
    ], { stdio: 'ignore' });
    await writeFile(join(sa, 'token'), 'test-token-123\n');
    await writeFile(join(sa, 'namespace'), 'latentfarm\n');

    const patches: Patch[] = [];
    let onPatch = (): void => undefined;
    // The first request is refused as an API server without the RBAC rule would: the worker says so once and retries.
    let refused = 0;
    api = createServer({ key: await readFile(join(dir.path, 'key.pem')), cert: await readFile(join(sa, 'ca.crt')) }, (req, res) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => { text += d; });
      req.on('end', () => {
        if (refused++ === 0) {
          res.writeHead(403, { 'content-type': 'application/json' }).end('{"kind":"Status","message":"pods is forbidden: test refusal"}');
          return;
        }
        patches.push({
          method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'] ?? '',
          authorization: req.headers.authorization ?? '', body: JSON.parse(text) as unknown,
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"Pod"}');
        onPatch();
      });
    });
    api.listen(0, '127.0.0.1');
    await once(api, 'listening');
    const address = api.address();
    const apiPort = typeof address === 'object' && address !== null ? address.port : 0;

    farm = await startTestFarm(0);
    const id = 'worker-pod-7f9c';
    worker = spawnCli([
      'worker', '--coordinator', farm.coordinator.address, '--engine', 'sim', '--id', id, '--metrics-port', '-1', '--log-level', 'info',
      '--max-batch', '4', '--sim-step-base-ms', '30', '--heartbeat-ms', '200', '--deletion-cost-ms', '50',
    ], {
      KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(apiPort),
      POD_NAME: id, POD_NAMESPACE: 'latentfarm', LATENTFARM_KUBE_SERVICE_ACCOUNT_DIR: sa,
    });
    farm.workers.push(worker);
    await workersConnected(farm.client, [id], [worker]);
    const costs = (): number[] => patches.map((p) => Number((p.body as { metadata: { annotations: Record<string, string> } }).metadata.annotations[ANNOTATION]));
    const patched = (check: (c: number[]) => boolean, what: string): Promise<void> => new Promise((resolve, reject) => {
      const ended = (): void => reject(new Error(`the worker exited before ${what}:\n${worker?.output() ?? ''}`));
      onPatch = () => { if (check(costs())) resolve(); };
      onPatch();
      void worker?.exited().then(ended);
    });

    await patched((c) => c.at(-1) === 0, 'an idle cost');
    await worker.line((l) => (l.includes('pod-deletion-cost written again') ? true : undefined), 'the recovery line');
    expect(worker.output().match(/could not write pod-deletion-cost/g)?.length, worker.output()).toBe(1);
    expect(worker.output()).toContain('HTTP 403 pods is forbidden: test refusal');
    const { job } = await farm.client.submitJob(spec({ params: { ...spec().params!, steps: 20 } }), prompts(12));
    const watching = collect(farm.client, job!.id);
    await patched((c) => (c.at(-1) ?? 0) > 0, 'a busy cost');
    const result = await watching;
    expect(result.images.size).toBe(12);
    expect(result.states.at(-1)).toBe(JobState.SUCCEEDED);
    await patched((c) => c.at(-1) === 0 && c.some((v) => v > 0), 'the cost falling back to idle');

    for (const p of patches) {
      expect(p.method).toBe('PATCH');
      expect(p.url).toBe(`/api/v1/namespaces/latentfarm/pods/${id}`);
      expect(p.contentType).toBe('application/merge-patch+json');
      expect(p.authorization).toBe('Bearer test-token-123');
      expect(p.body).toEqual({ metadata: { annotations: { [ANNOTATION]: expect.stringMatching(/^\d+$/) as unknown } } });
    }
    const c = costs();
    // Only changes are written: no two writes in a row carry the same value.
    expect(c.filter((v, i) => i > 0 && v === c[i - 1])).toEqual([]);
    expect(Math.max(...c)).toBeGreaterThan(0);
    expect(Math.max(...c)).toBeLessThanOrEqual(8); // max batch + prefetch: what it may hold
  });
});
