// The job download's ZIP writer, read back by an independent reader (Python's
// zipfile, which checks every CRC): a small archive stays plain ZIP, and one
// past 65,535 files carries the ZIP64 records a reader needs to see them all.
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '@latentfarm/testkit';
import { streamSink, ZipWriter } from './zip.js';

const dirs: { remove(): Promise<void> }[] = [];
afterEach(async () => { for (const d of dirs.splice(0)) await d.remove(); });

async function writeZip(files: number): Promise<string> {
  const dir = await tempDir();
  dirs.push(dir);
  const path = join(dir.path, 'out.zip');
  const out = createWriteStream(path);
  const zip = new ZipWriter(streamSink(out, new AbortController().signal));
  for (let i = 0; i < files; i++) await zip.add(`${i}.txt`, Buffer.from(`file ${i}`));
  await zip.finish();
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return path;
}

/** Python reads the archive: how many files, whether every CRC holds, and one file's bytes. */
async function pythonReads(path: string, name: string): Promise<{ count: number; bad: string | null; content: string }> {
  const script = 'import json, sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(json.dumps({"count": len(z.infolist()), "bad": z.testzip(), "content": z.read(sys.argv[2]).decode()}))';
  const { stdout } = await promisify(execFile)('python3', ['-c', script, path, name], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as { count: number; bad: string | null; content: string };
}

const ZIP64_END = Buffer.from([0x50, 0x4b, 0x06, 0x06]);

describe('the ZIP writer', () => {
  it('writes a small archive as plain ZIP', async () => {
    const path = await writeZip(3);
    expect(await pythonReads(path, '2.txt')).toEqual({ count: 3, bad: null, content: 'file 2' });
    expect((await readFile(path)).includes(ZIP64_END)).toBe(false);
  });

  it('writes ZIP64 records past 65,535 files, and a reader finds every file', async () => {
    const files = 70_000;
    const path = await writeZip(files);
    expect(await pythonReads(path, '69999.txt')).toEqual({ count: files, bad: null, content: 'file 69999' });
    expect((await readFile(path)).includes(ZIP64_END)).toBe(true);
  }, 120_000);
});
