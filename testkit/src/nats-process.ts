// Starts one nats-server process (Debian's package, on the PATH) and waits
// until it serves clients, reading back the ports it bound from its ports file.
import { spawn } from 'node:child_process';
import { portsFile, type PortsFile } from './nats-monitor.js';
import { watchProcess, type Proc } from './processes.js';

const READY_TIMEOUT_MS = 30_000;

/**
 * Spawns `nats-server <args> --ports_file_dir <portsDir>` and resolves once its ports file is written and it says
 * "Server is ready"; a server that exits or hangs at start is killed and its output thrown.
 */
export async function spawnNatsServer(args: string[], portsDir: string): Promise<{ proc: Proc; ports: PortsFile }> {
  const child = spawn('nats-server', [...args, '--ports_file_dir', portsDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = watchProcess(child);
  const started = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`nats-server could not start (is it on the PATH? apt-get install nats-server): ${err.message}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`nats-server not ready after ${READY_TIMEOUT_MS / 1000} s:\n${p.output()}`)), READY_TIMEOUT_MS);
  });
  try {
    const ports = await Promise.race([portsFile(portsDir, p), started, timeout]);
    // The ports file is written as the listeners open; "Server is ready" says clients are served.
    await Promise.race([p.line((l) => (l.includes('Server is ready') ? true : undefined), 'nats-server to be ready'), started, timeout]);
    return { proc: p, ports };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
