// What a test reads back from a running nats-server: the ports it bound (from
// its ports file) and its JetStream state (from its monitoring endpoint).
import { watch } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Proc } from './processes.js';

/** What nats-server writes to `<ports_file_dir>/nats-server_<pid>.ports` once it listens. */
export interface PortsFile {
  nats?: string[];
  monitoring?: string[];
  cluster?: string[];
}

/** The port of the first URL the ports file lists for `what`; throws with the server's output if there is none. */
export function portOf(urls: string[] | undefined, what: string, p: Proc): number {
  const url = urls?.[0];
  const port = url === undefined ? NaN : Number(new URL(url).port);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`nats-server's ports file has no ${what} port (${url ?? 'none'}):\n${p.output()}`);
  return port;
}

/** Waits for the ports file of process `p` to appear in `dir` (watching the folder, so no polling) and reads it. */
export function portsFile(dir: string, p: Proc): Promise<PortsFile> {
  const suffix = `_${p.child.pid ?? 0}.ports`;
  return new Promise<PortsFile>((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, v?: PortsFile) => {
      if (done) return;
      done = true;
      watcher.close();
      if (err !== undefined) reject(err);
      else resolve(v as PortsFile);
    };
    const check = () => {
      void (async () => {
        const name = (await readdir(dir)).find((f) => f.endsWith(suffix));
        if (name === undefined) return;
        // A file caught half written fails to parse; the write that completes it fires the watcher again.
        const ports = JSON.parse(await readFile(join(dir, name), 'utf8')) as PortsFile;
        finish(undefined, ports);
      })().catch(() => undefined);
    };
    const watcher = watch(dir, check);
    void p.exited().then(() => finish(new Error(`nats-server exited at start:\n${p.output()}`)));
    check();
  });
}

/** The parts of `/jsz?accounts=true&streams=true&consumers=true` the tests read. */
export interface Jsz {
  meta_cluster?: { name?: string; leader?: string; cluster_size?: number; replicas?: { name: string; current: boolean; offline?: boolean }[] };
  account_details?: { stream_detail?: {
    name: string;
    cluster?: { leader?: string; replicas?: { name: string; current: boolean }[] };
    state: { messages: number; first_seq: number; last_seq: number; num_deleted?: number };
    consumer_detail?: { name: string; num_pending: number; num_ack_pending: number; num_redelivered: number; num_waiting: number;
      delivered: { stream_seq: number }; ack_floor: { stream_seq: number } }[];
  }[] }[];
}

export async function fetchJsz(monitorPort: number): Promise<Jsz> {
  const res = await fetch(`http://127.0.0.1:${monitorPort}/jsz?accounts=true&streams=true&consumers=true`, { signal: AbortSignal.timeout(3_000) });
  return (await res.json()) as Jsz;
}

/** Consumers on the server, every account and stream together (from /jsz; consumers=true counts them all). */
export async function consumerCount(monitorPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${monitorPort}/jsz`, { signal: AbortSignal.timeout(3_000) });
  return ((await res.json()) as { consumers?: number }).consumers ?? 0;
}

/** The server's resident memory in bytes (from /varz). */
export async function residentBytes(monitorPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${monitorPort}/varz`, { signal: AbortSignal.timeout(3_000) });
  return ((await res.json()) as { mem?: number }).mem ?? 0;
}

export const streamsOf = (jsz: Jsz) => (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []);

/** Every stream and consumer with its counters (and its leader on a cluster), for failure messages. */
export async function jetstreamState(monitorPort: number): Promise<string> {
  try {
    const lines: string[] = [];
    for (const s of streamsOf(await fetchJsz(monitorPort))) {
      const leader = s.cluster?.leader === undefined ? '' : `, leader ${s.cluster.leader}`;
      lines.push(`stream ${s.name}: ${s.state.messages} msgs, seq ${s.state.first_seq}..${s.state.last_seq}, ${s.state.num_deleted ?? 0} deleted${leader}`);
      for (const c of s.consumer_detail ?? []) {
        lines.push(`  consumer ${c.name}: pending ${c.num_pending}, ack pending ${c.num_ack_pending}, redelivered ${c.num_redelivered}, `
          + `waiting ${c.num_waiting}, delivered ${c.delivered.stream_seq}, ack floor ${c.ack_floor.stream_seq}`);
      }
    }
    return lines.join('\n');
  } catch (err) {
    return `(no JetStream state: ${(err as Error).message})`;
  }
}
