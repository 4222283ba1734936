// One batched UNet call. Rows may sit at different timesteps when the model
// takes a timestep per sample; otherwise rows are grouped by timestep and
// each group gets its own call (the fallback for single-timestep exports).
import { floatTensor, inputSpec, numberTensor, outputName, readFloats, type InferenceSession, type InputSpec, timedRun } from './onnx-session.js';
import { takesTimestepPerRow } from './unet-session.js';

export interface UnetRows {
  /** [rows, 4, h, w] scaled model inputs. */
  sample: Float32Array;
  /** One timestep per row. */
  timesteps: readonly number[];
  /** [rows, seq, hidden] text hidden states. */
  hidden: Float32Array;
  latentShape: readonly [number, number, number];
  seqLen: number;
}

/** Told of every onnxruntime call: its rows and their timesteps. */
export type UnetCallObserver = (rows: number, timesteps: readonly number[]) => void;

export class Unet {
  private readonly sample: InputSpec;
  private readonly timestep: InputSpec;
  private readonly hidden: InputSpec;
  private readonly output: string;
  /** The timestep input is [batch] with a dynamic batch: rows may differ. */
  readonly perSampleTimestep: boolean;

  constructor(private readonly session: InferenceSession, private readonly file: string, private readonly onCall: UnetCallObserver = () => undefined) {
    this.sample = inputSpec(session, 'sample', file);
    this.timestep = inputSpec(session, 'timestep', file);
    this.hidden = inputSpec(session, 'encoder_hidden_states', file);
    this.output = outputName(session, 'out_sample', file);
    this.perSampleTimestep = takesTimestepPerRow(session);
  }

  async run(rows: UnetRows): Promise<Float32Array> {
    const n = rows.timesteps.length;
    if (this.perSampleTimestep || rows.timesteps.every((t) => t === rows.timesteps[0])) return this.call(rows, 0, n);
    // Fallback: one call per distinct timestep, rows copied out and back.
    const out = new Float32Array(rows.sample.length);
    const per = rows.sample.length / n;
    const perHidden = rows.hidden.length / n;
    const byT = new Map<number, number[]>();
    rows.timesteps.forEach((t, i) => byT.set(t, [...(byT.get(t) ?? []), i]));
    for (const [t, idx] of byT) {
      const sample = new Float32Array(idx.length * per);
      const hidden = new Float32Array(idx.length * perHidden);
      idx.forEach((r, j) => {
        sample.set(rows.sample.subarray(r * per, (r + 1) * per), j * per);
        hidden.set(rows.hidden.subarray(r * perHidden, (r + 1) * perHidden), j * perHidden);
      });
      const res = await this.call({ ...rows, sample, hidden, timesteps: idx.map(() => t) }, 0, idx.length);
      idx.forEach((r, j) => out.set(res.subarray(j * per, (j + 1) * per), r * per));
    }
    return out;
  }

  private async call(rows: UnetRows, _from: number, n: number): Promise<Float32Array> {
    const [c, h, w] = rows.latentShape;
    const tShape = this.timestep.shape;
    const timesteps = this.perSampleTimestep ? rows.timesteps : [rows.timesteps[0] ?? 0];
    const tDims = tShape.length === 0 ? [] : [timesteps.length];
    const feeds = {
      [this.sample.name]: floatTensor(this.sample, rows.sample, [n, c, h, w], this.file),
      [this.timestep.name]: numberTensor(this.timestep, timesteps, tDims, this.file),
      [this.hidden.name]: floatTensor(this.hidden, rows.hidden, [n, rows.seqLen, rows.hidden.length / n / rows.seqLen], this.file),
    };
    this.onCall(n, rows.timesteps);
    const out = await timedRun(this.session, feeds);
    return readFloats(out[this.output] as Parameters<typeof readFloats>[0]);
  }
}
