// The real pipeline through the whole farm: a worker process on the onnx
// engine with the bundled model, jobs over gRPC, images back to the client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FinishReason, JobState, Scheduler } from '@latentfarm/proto';
import { decodePng } from '@latentfarm/worker';
import { eventually, spawnCli } from '@latentfarm/testkit';
import { collect, spec, startTestFarm, type TestFarm } from './farm.js';

describe('farm with the onnx engine on the bundled model', () => {
  let farm: TestFarm;
  beforeAll(async () => {
    farm = await startTestFarm(0, {}, { models: [] });
    farm.workers.push(spawnCli(['worker', '--coordinator', farm.coordinator.address, '--engine', 'onnx', '--model-dir', 'models/shapes-ldm',
      '--max-batch', '4', '--metrics-port', '-1', '--log-level', 'warn', '--threads', '1']));
    await eventually(async () => (await farm.client.getFarmStatus()).models.some((m) => m.name === 'shapes-ldm' && m.workers === 1), 60_000, 'onnx worker');
  }, 90_000);
  afterAll(async () => farm?.stop());

  it('renders a small job end to end, each PNG carrying its parameters', async () => {
    const s = spec({ model: 'shapes-ldm', params: { width: 64, height: 64, steps: 10, cfgScale: 5, scheduler: Scheduler.DDIM, outputFormat: 1, seed: 31 } });
    const { job } = await farm.client.submitJob(s, [
      { prompt: 'a red circle on a blue background', negativePrompt: '', images: 2 },
      { prompt: 'a yellow star on a black background', negativePrompt: '', images: 1, seed: 7 },
    ]);
    const c = await collect(farm.client, job!.id, { referencesOnly: false });
    expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
    expect(c.images.size).toBe(3);
    const third = c.images.get(`${job!.id}/2`)!;
    expect(third.info.finishReason).toBe(FinishReason.SUCCESS);
    const png = decodePng(third.data);
    expect([png.width, png.height]).toEqual([64, 64]);
    expect(png.text).toMatchObject({ prompt: 'a yellow star on a black background', seed: '7', steps: '10', sampler: 'ddim', model: 'shapes-ldm' });
  });
});
