// Prompt files, read line by line with the shared prompt-text parser
// (@latentfarm/common), so millions of prompts never sit in memory at once.
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { isJsonl, parsePromptLine } from '@latentfarm/common';
import type { PromptEntry } from '@latentfarm/proto';
import { fileProblem } from './file-errors.js';

export { isJsonl, parseFormat, parsePromptLine, parsePromptText, parseScheduler } from '@latentfarm/common';

/** Streams a prompt file entry by entry, so millions of prompts never sit in memory at once. */
export async function* parsePromptFile(file: string, jsonl = isJsonl(file)): AsyncGenerator<PromptEntry> {
  const input = createReadStream(file);
  // Open before reading, so a missing file is one line naming it rather than a stream error.
  await once(input, 'open').catch((err: unknown) => { throw fileProblem(err, '', file) ?? err; });
  const rl = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of rl) {
      const e = parsePromptLine(line, ++n, file, jsonl);
      if (e !== undefined) yield e;
    }
  } catch (err) {
    throw fileProblem(err, '', file) ?? err; // e.g. a folder given as the file (EISDIR on the first read)
  }
}
