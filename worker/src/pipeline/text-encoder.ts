// Prompt → CLIP hidden states, with a cache: bulk jobs repeat prompts (and
// every image with guidance needs the empty negative prompt).
import type { ClipTokenizer } from './tokenizer.js';
import { inputSpec, numberTensor, outputName, readFloats, type InferenceSession, type InputSpec, timedRun } from './onnx-session.js';

const CACHE_ENTRIES = 2048;

export class TextEncoder {
  private readonly ids: InputSpec;
  private readonly output: string;
  private readonly cache = new Map<string, Float32Array>();
  /** Elements per prompt: sequence length × hidden size. */
  embeddingSize = 0;

  constructor(private readonly session: InferenceSession, private readonly tokenizer: ClipTokenizer, private readonly file: string) {
    this.ids = inputSpec(session, 'input_ids', file);
    this.output = outputName(session, 'last_hidden_state', file);
  }

  get sequenceLength(): number {
    return this.tokenizer.maxLength;
  }

  /** Hidden states of each text, [seq × hidden] each; uncached texts go in one batched call. */
  async encode(texts: readonly string[]): Promise<Float32Array[]> {
    const missing = [...new Set(texts.filter((t) => !this.cache.has(t)))];
    if (missing.length > 0) {
      const L = this.tokenizer.maxLength;
      const ids = new Int32Array(missing.length * L);
      missing.forEach((t, i) => ids.set(this.tokenizer.encode(t), i * L));
      const out = await timedRun(this.session, { [this.ids.name]: numberTensor(this.ids, ids, [missing.length, L], this.file) });
      const hidden = readFloats(out[this.output] as Parameters<typeof readFloats>[0]);
      const per = hidden.length / missing.length;
      this.embeddingSize = per;
      missing.forEach((t, i) => {
        if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
        this.cache.set(t, hidden.slice(i * per, (i + 1) * per));
      });
    }
    return texts.map((t) => {
      const v = this.cache.get(t) as Float32Array;
      // Refresh recency so hot prompts stay.
      this.cache.delete(t);
      this.cache.set(t, v);
      return v;
    });
  }
}
