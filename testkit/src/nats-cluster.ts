// A JetStream cluster of real nats-server processes (Debian's package, on the
// PATH), as production runs it: each node with its own store dir, server name
// and routes to the others. Every port is one the kernel picked, read back
// from the node's ports file; a node that is killed comes back on its ports
// with its store, as a restarted pod does.
//
// The bootstrap problem: a JetStream cluster node refuses to start without at
// least one configured route, and a route needs a port known in advance.
// Picking ports beforehand races with other processes, so a seed server
// without JetStream (a route listener on port -1 needs no routes) starts
// first, nodes 2 and 3 start with a route to it, the seed is replaced by
// node 1 with routes to them, and nodes 2 and 3 get their routes to node 1
// by a config reload (SIGHUP), which keeps every socket they hold. (Turning
// JetStream on in the seed by a reload instead gives it a second peer id on
// 2.9: the cluster then waits for a peer that never comes.)
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchJsz, jetstreamState, portOf, streamsOf } from './nats-monitor.js';
import { spawnNatsServer } from './nats-process.js';
import { eventually, type Proc } from './processes.js';

export interface NatsClusterNode {
  /** server_name, also what JetStream reports as a stream's leader. */
  readonly name: string;
  readonly url: string;
  readonly port: number;
  /** Output of the current process (for failure messages). */
  output(): string;
  running(): boolean;
  /** Sends `signal` (default SIGKILL) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on its ports with its store dir and routes to the other nodes; resolves once it knows a metadata leader. */
  restart(): Promise<void>;
}

export interface NatsCluster {
  readonly nodes: readonly NatsClusterNode[];
  /** Every node's client URL, comma-separated: a client's server list. */
  readonly urls: string;
  /** The node that a running node reports as the leader of `stream`, if that leader is running too. */
  streamLeader(stream: string): Promise<NatsClusterNode | undefined>;
  /** Each running node's streams, consumers and leaders, and each node's last log lines (for failure messages). */
  diagnostics(): Promise<string>;
  /** Kills every node and removes the store dirs. */
  stop(): Promise<void>;
}

const CLUSTER_NAME = 'latentfarm-test';
const READY_TIMEOUT_MS = 60_000;

/** One node's config. Ports of -1 are picked by the kernel; a reload must repeat exactly what the start said. */
interface NodeConfig {
  name: string;
  storeDir: string;
  port: number;
  monitorPort: number;
  clusterPort: number;
  jetstream: boolean;
  routes: number[];
}

const configText = (c: NodeConfig): string => [
  `server_name: ${JSON.stringify(c.name)}`,
  `listen: "127.0.0.1:${c.port}"`,
  `http: "127.0.0.1:${c.monitorPort}"`,
  c.jetstream ? `jetstream { store_dir: ${JSON.stringify(c.storeDir)} }` : '',
  `cluster {`,
  `  name: ${CLUSTER_NAME}`,
  `  listen: "127.0.0.1:${c.clusterPort}"`,
  `  routes: [${c.routes.map((p) => JSON.stringify(`nats-route://127.0.0.1:${p}`)).join(', ')}]`,
  `}`,
  '',
].join('\n');

class Node implements NatsClusterNode {
  proc: Proc | undefined;
  port = -1;
  monitorPort = -1;
  clusterPort = -1;
  private readonly configPath: string;

  constructor(readonly name: string, private readonly dir: string, private readonly cluster: Node[]) {
    this.configPath = join(dir, 'nats-server.conf');
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  private get storeDir(): string {
    return join(this.dir, 'store');
  }

  output(): string {
    return this.proc?.output() ?? '';
  }

  running(): boolean {
    const c = this.proc?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** First start: kernel-picked ports, the routes given. */
  async start(o: { jetstream: boolean; routes: number[] }): Promise<void> {
    await this.launch({ name: this.name, storeDir: this.storeDir, port: -1, monitorPort: -1, clusterPort: -1, ...o });
  }

  /** Replaces the routes of a running node by a config reload; the ports stay as its first start picked them. */
  async reloadRoutes(routes: number[]): Promise<void> {
    const p = this.proc!;
    await writeFile(this.configPath, configText({ name: this.name, storeDir: this.storeDir, port: -1, monitorPort: -1, clusterPort: -1, jetstream: true, routes }));
    const reloaded = p.line((l) => (l.includes('Reloaded server configuration') ? true : l.includes('Failed to reload') ? l : undefined), 'the config reload');
    p.child.kill('SIGHUP');
    const r = await reloaded;
    if (r !== true) throw new Error(`nats-server ${this.name}: ${r}\n${p.output()}`);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running()) return;
    this.proc!.kill(signal);
    await this.proc!.exited();
  }

  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    const routes = this.cluster.filter((n) => n !== this).map((n) => n.clusterPort);
    // The ports it had: clients and the other nodes hold them. Only between the kill and this start could another
    // process take one (the start then fails, saying so).
    await this.launch({
      name: this.name, storeDir: this.storeDir, port: this.port, monitorPort: this.monitorPort, clusterPort: this.clusterPort, jetstream: true, routes,
    });
    await this.metaLeaderKnown();
  }

  /**
   * Resolves once this node's monitoring endpoint names a JetStream metadata leader (itself or another). Not its
   * log: a node that joins a group whose leader is already elected may never log a leader change (on a loaded
   * machine nodes 2 and 3 elect one before node 1 starts, and the start then waited for a line that never came).
   */
  async metaLeaderKnown(): Promise<void> {
    await eventually(async () => (await fetchJsz(this.monitorPort).catch(() => undefined))?.meta_cluster?.leader !== undefined,
      READY_TIMEOUT_MS, `nats-server ${this.name} to know a JetStream metadata leader`);
  }

  private async launch(c: NodeConfig): Promise<void> {
    await writeFile(this.configPath, configText(c));
    const { proc, ports } = await spawnNatsServer(['-c', this.configPath], this.dir);
    this.proc = proc;
    this.port = portOf(ports.nats, 'nats', proc);
    this.monitorPort = portOf(ports.monitoring, 'monitoring', proc);
    this.clusterPort = portOf(ports.cluster, 'cluster', proc);
  }
}

/** Starts a `size`-node JetStream cluster and resolves once every node agrees on a metadata leader with all `size` peers. */
export async function startNatsCluster(o: { size?: number } = {}): Promise<NatsCluster> {
  const size = o.size ?? 3;
  if (size < 2) throw new Error('a NATS cluster needs at least 2 nodes; use startNatsServer for one');
  const root = await mkdtemp(join(tmpdir(), 'latentfarm-nats-cluster-'));
  const nodes: Node[] = [];
  let seed: Node | undefined;
  const stop = async () => {
    await Promise.all([...nodes, ...(seed === undefined ? [] : [seed])].map((n) => n.kill('SIGKILL')));
    await rm(root, { recursive: true, force: true });
  };
  try {
    for (let i = 1; i <= size; i++) {
      const dir = join(root, `n${i}`);
      await mkdir(dir);
      nodes.push(new Node(`n${i}`, dir, nodes));
    }
    const [first, ...rest] = nodes as [Node, ...Node[]];
    const s = new Node('seed', join(root, 'seed'), []);
    seed = s;
    await mkdir(join(root, 'seed'));
    await s.start({ jetstream: false, routes: [] });
    await Promise.all(rest.map((n) => n.start({ jetstream: true, routes: [s.clusterPort] })));
    await s.kill('SIGKILL');
    await first.start({ jetstream: true, routes: rest.map((n) => n.clusterPort) });
    await Promise.all(rest.map((n) => n.reloadRoutes(nodes.filter((x) => x !== n).map((x) => x.clusterPort))));
    // A leader may be elected before the last node joins: wait until every node counts all of them as peers.
    let last = '';
    await eventually(async () => {
      const all = await Promise.all(nodes.map((n) => fetchJsz(n.monitorPort).catch((err: Error) => err)));
      last = JSON.stringify(all.map((j) => (j instanceof Error ? j.message : j.meta_cluster)));
      return all.every((j) => !(j instanceof Error) && j.meta_cluster?.leader !== undefined && j.meta_cluster.cluster_size === size);
    }, READY_TIMEOUT_MS, `a ${size}-node JetStream cluster`).catch((err: Error) => { throw new Error(`${err.message}; last seen: ${last}`); });
  } catch (err) {
    const logs = nodes.map((n) => `--- ${n.name}\n${n.output()}`).join('\n');
    await stop();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }

  return {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    async streamLeader(stream) {
      for (const n of nodes.filter((x) => x.running())) {
        const jsz = await fetchJsz(n.monitorPort).catch(() => undefined);
        const leader = jsz === undefined ? undefined : streamsOf(jsz).find((s) => s.name === stream)?.cluster?.leader;
        // The others name a killed leader until they notice it is gone and elect another.
        const node = nodes.find((x) => x.name === leader);
        if (node?.running() === true) return node;
      }
      return undefined;
    },
    async diagnostics() {
      const parts: string[] = [];
      for (const n of nodes) {
        parts.push(`--- nats-server ${n.name} (${n.running() ? n.url : 'not running'}, last 30 lines)\n${n.output().trimEnd().split('\n').slice(-30).join('\n')}\n`);
        if (n.running()) parts.push(`--- JetStream state on ${n.name}\n${await jetstreamState(n.monitorPort)}\n`);
      }
      return parts.join('');
    },
    stop,
  };
}
