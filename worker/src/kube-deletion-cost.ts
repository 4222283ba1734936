// Keeps `controller.kubernetes.io/pod-deletion-cost` on this worker's own pod
// current, so a ReplicaSet scaling in removes idle workers before busy ones.
// It talks to the API server the way every in-cluster client does (service
// host and port from the environment, the mounted service-account token and
// CA) with Node's own https, so the worker carries no Kubernetes client.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import type { Logger } from '@latentfarm/common';

export const DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

/** Where this pod is and how to reach the API server. */
export interface InClusterPod {
  readonly host: string;
  readonly port: number;
  readonly namespace: string;
  readonly name: string;
  readonly tokenFile: string;
  readonly ca: Buffer;
}

/**
 * This pod, from the variables Kubernetes sets (KUBERNETES_SERVICE_HOST/PORT), the downward API (POD_NAME,
 * POD_NAMESPACE, else the service account's namespace file) and the mounted service account; undefined when
 * any is missing, i.e. not in a cluster or no token mounted.
 */
export async function inClusterPod(env: NodeJS.ProcessEnv, serviceAccountDir: string): Promise<InClusterPod | undefined> {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = Number(env['KUBERNETES_SERVICE_PORT'] ?? '443');
  const name = env['POD_NAME'];
  const tokenFile = join(serviceAccountDir, 'token');
  if (host === undefined || host === '' || name === undefined || name === '' || !Number.isInteger(port) || !existsSync(tokenFile)) return undefined;
  const namespace = env['POD_NAMESPACE'] ?? (await readFile(join(serviceAccountDir, 'namespace'), 'utf8').catch(() => '')).trim();
  if (namespace === '') return undefined;
  const ca = await readFile(join(serviceAccountDir, 'ca.crt')).catch(() => undefined);
  if (ca === undefined) return undefined;
  return { host, port, namespace, name, tokenFile, ca };
}

/** Sets annotations on the pod with a JSON merge patch; rejects with the API server's status and message. */
export async function patchPodAnnotations(pod: InClusterPod, annotations: Record<string, string>, signal?: AbortSignal): Promise<void> {
  // The kubelet rotates projected tokens, so each request reads the file afresh.
  const token = (await readFile(pod.tokenFile, 'utf8')).trim();
  const body = JSON.stringify({ metadata: { annotations } });
  await new Promise<void>((resolve, reject) => {
    const req = request({
      host: pod.host, port: pod.port, method: 'PATCH', ca: pod.ca, timeout: 10_000, signal,
      path: `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}`,
      headers: {
        authorization: `Bearer ${token}`, 'content-type': 'application/merge-patch+json', accept: 'application/json',
        'content-length': Buffer.byteLength(body),
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { if (text.length < 1000) text += d; });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve();
        else reject(new Error(`PATCH pod ${pod.namespace}/${pod.name}: HTTP ${status} ${apiMessage(text)}`));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('the API server did not answer in 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The `message` of a Kubernetes Status body, or the start of the body. */
function apiMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch { /* not JSON: show it as it came */ }
  return text.slice(0, 200);
}

/**
 * Every `intervalMs`, writes `cost()` to the pod's deletion cost if it changed since the last write: at most one
 * request per interval, however busy the farm, and none while nothing changes. A failed write is retried at the
 * next tick; the first failure of a run of them is logged, so a missing RBAC rule shows once, not every tick.
 */
export class DeletionCostKeeper {
  private readonly timer: NodeJS.Timeout;
  private written: number | undefined;
  private inFlight = false;
  private failing = false;
  private readonly stopped = new AbortController();

  constructor(private readonly pod: InClusterPod, private readonly cost: () => number, intervalMs: number, private readonly log: Logger) {
    this.timer = setInterval(() => { void this.tick(); }, intervalMs);
    this.timer.unref();
    void this.tick();
  }

  private async tick(): Promise<void> {
    const value = this.cost();
    if (this.inFlight || value === this.written) return;
    this.inFlight = true;
    try {
      await patchPodAnnotations(this.pod, { [DELETION_COST_ANNOTATION]: String(value) }, this.stopped.signal);
      this.written = value;
      if (this.failing) this.log.info({ cost: value }, 'pod-deletion-cost written again');
      this.failing = false;
    } catch (err) {
      if (this.stopped.signal.aborted) return;
      if (!this.failing) this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not write pod-deletion-cost (does the worker\'s Role allow patching pods?); retrying');
      this.failing = true;
    } finally {
      this.inFlight = false;
    }
  }

  /** Stops writing; a request in flight is abandoned, so it cannot hold up the process's exit. */
  stop(): void {
    clearInterval(this.timer);
    this.stopped.abort();
  }
}
