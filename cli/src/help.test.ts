// Every command's --help lists its options (the real entry point, its stdout captured).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from './main.js';

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  try {
    const code = await main(argv);
    return { code, out };
  } finally {
    spy.mockRestore();
  }
}

describe('--help', () => {
  afterEach(() => vi.restoreAllMocks());

  const expected: Record<string, string[]> = {
    up: ['--prompt ', '--prompts', '--workers', '--port', '--metrics-port', '--model-dir'],
    serve: ['--port', '--metrics-port', '--data-dir', '--nats-url'],
    worker: ['--coordinator', '--metrics-port', '--model-dir', '--engine'],
    submit: ['--coordinator', '--json', '--watch', '--out', '--idempotency-key', '--deadline-ms'],
    watch: ['--coordinator', '--json', '--out', '--after'],
    get: ['--coordinator', '--json'],
    list: ['--coordinator', '--json', '--since', '--label', '--page-size', '--page-token'],
    cancel: ['--coordinator', '--json'],
    image: ['--coordinator', '--json'],
    estimate: ['--coordinator', '--json', '--prompt '],
    status: ['--coordinator', '--json'],
  };

  it.each(Object.entries(expected))('%s --help lists its options', async (command, flags) => {
    const r = await run([command, '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^Usage: latentfarm ${command}`));
    for (const f of flags) expect(r.out).toContain(`  ${f}`);
    expect(r.out).toContain('  --help');
  });

  it('the overview names every command', async () => {
    const r = await run(['--help']);
    for (const c of Object.keys(expected)) expect(r.out).toMatch(new RegExp(`^  ${c} `, 'm'));
  });
});
