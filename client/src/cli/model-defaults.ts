// What the CLI shows of the models' defaults (GetFarmStatus): the model lines of
// `status`, and the warning `submit` prints once for a size far from the
// model's native one. Such a size is allowed (the farm renders what is asked),
// but slow and usually garbled: a 64×64 model asked for 512×512 tiles its shapes.
import { schedulerByProto, type GetFarmStatusResponse, type JobSpec, type ModelStatus, type PromptEntry } from '@latentfarm/proto';

/** "Far": more than this factor off the native size in either dimension. */
export const FAR_FACTOR = 2;

/** True when the job or any entry asks for a size: only then is the farm's status worth a call. */
export function asksForSize(spec: JobSpec, entries: readonly PromptEntry[]): boolean {
  const set = (w: number | undefined, h: number | undefined) => w !== undefined || h !== undefined;
  return set(spec.params?.width, spec.params?.height) || entries.some((e) => set(e.overrides?.width, e.overrides?.height));
}

/** One warning line when a requested size is far from the model's native size; undefined otherwise. */
export function sizeWarning(spec: JobSpec, entries: readonly PromptEntry[], status: GetFarmStatusResponse | undefined): string | undefined {
  if (status === undefined) return undefined;
  const name = spec.model || status.defaultModel;
  const model = status.models.find((m) => m.name === name);
  if (model === undefined || !model.native) return undefined;
  const far = new Set<string>();
  const check = (w: number | undefined, h: number | undefined) => {
    const width = w ?? spec.params?.width ?? model.defaultWidth;
    const height = h ?? spec.params?.height ?? model.defaultHeight;
    if (isFar(width, model.defaultWidth) || isFar(height, model.defaultHeight)) far.add(`${width}×${height}`);
  };
  check(undefined, undefined);
  for (const e of entries) if (e.overrides?.width !== undefined || e.overrides?.height !== undefined) check(e.overrides.width, e.overrides.height);
  const [first] = far;
  if (first === undefined) return undefined;
  const more = far.size > 1 ? ` (and ${far.size - 1} other size${far.size > 2 ? 's' : ''})` : '';
  return `warning: ${first}${more} is more than ${FAR_FACTOR}× off the native size of "${model.name}", ${model.defaultWidth}×${model.defaultHeight}: `
    + 'it renders, but slowly and usually garbled or tiled; leave --width/--height unset for the native size';
}

const isFar = (v: number, native: number): boolean => v > native * FAR_FACTOR || v * FAR_FACTOR < native;


/** The model line of `latentfarm status`: who serves it and what a job that sets nothing gets. */
export function modelLine(m: ModelStatus, defaultModel: string): string {
  const scheduler = schedulerByProto(m.defaultScheduler)?.name;
  const defaults = `${m.defaultWidth}×${m.defaultHeight}${scheduler !== undefined ? ` ${scheduler}` : ''}`;
  return `model ${m.name}: ${m.workers} workers, jobs that set no size get ${defaults} (${m.native ? 'native' : 'coordinator default'})${m.name === defaultModel ? ', the default model' : ''}`;
}
