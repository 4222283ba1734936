// The schedulers the farm offers: one row each, read by validation, the CLI,
// the coordinator and the worker. Hand-written, beside the generated code.
//
// Adding a scheduler: a value in the .proto `Scheduler` enum (then `npm run
// gen`), a row here, and its implementation in worker/src/schedulers/ (the
// worker's factory map is typed by this table's names, so the compiler asks
// for it).
import { Scheduler } from './gen/latentfarm/v1/types.js';

/** A setting value as diffusers writes it in scheduler_config.json. */
export type DiffusersValue = string | number | boolean | null;

export interface SchedulerInfo {
  /** Our name: the CLI's `--scheduler` and JSONL's `scheduler` spelling, and the worker's implementation key. */
  readonly name: string;
  /** The wire's enum value. */
  readonly proto: Scheduler;
  /**
   * diffusers class names (`_class_name` in scheduler_config.json) that mean
   * this scheduler: a model folder shipping one defaults to it.
   */
  readonly diffusersClasses: readonly string[];
  /**
   * The diffusers class's own config defaults where they differ from the
   * defaults all its schedulers share (diffusers' snake_case keys). A model
   * folder's file wins over these; they fill what the file leaves out, as
   * diffusers does when one scheduler is built from another's config.
   */
  readonly diffusersDefaults: Readonly<Record<string, DiffusersValue>>;
}

export const SCHEDULERS = [
  { name: 'ddim', proto: Scheduler.DDIM, diffusersClasses: ['DDIMScheduler'], diffusersDefaults: {} },
  { name: 'pndm', proto: Scheduler.PNDM, diffusersClasses: ['PNDMScheduler'], diffusersDefaults: { set_alpha_to_one: false } },
  { name: 'euler', proto: Scheduler.EULER, diffusersClasses: ['EulerDiscreteScheduler'], diffusersDefaults: { timestep_spacing: 'linspace' } },
  {
    name: 'euler_ancestral', proto: Scheduler.EULER_ANCESTRAL,
    diffusersClasses: ['EulerAncestralDiscreteScheduler'], diffusersDefaults: { timestep_spacing: 'linspace' },
  },
  {
    name: 'dpmpp_2m', proto: Scheduler.DPMPP_2M,
    diffusersClasses: ['DPMSolverMultistepScheduler'], diffusersDefaults: { timestep_spacing: 'linspace' },
  },
  {
    name: 'lcm', proto: Scheduler.LCM, diffusersClasses: ['LCMScheduler'],
    diffusersDefaults: { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', clip_sample: false },
  },
] as const satisfies readonly SchedulerInfo[];

export type SchedulerName = (typeof SCHEDULERS)[number]['name'];

export const SCHEDULER_NAMES: readonly SchedulerName[] = SCHEDULERS.map((s) => s.name);

const byName = new Map<string, SchedulerInfo & { name: SchedulerName }>(SCHEDULERS.map((s) => [s.name, s]));
const byProto = new Map<Scheduler, SchedulerInfo & { name: SchedulerName }>(SCHEDULERS.map((s) => [s.proto, s]));
const byClass = new Map<string, SchedulerInfo & { name: SchedulerName }>(SCHEDULERS.flatMap((s) => s.diffusersClasses.map((c) => [c, s] as const)));

export const isSchedulerName = (name: string): name is SchedulerName => byName.has(name);

/** The row for a CLI/JSONL spelling (case-insensitive); undefined for a name the farm does not offer. */
export const schedulerByName = (name: string): (SchedulerInfo & { name: SchedulerName }) | undefined => byName.get(name.toLowerCase());

/** The row for a wire value; undefined for UNSPECIFIED (the model's own) and for values the farm does not offer. */
export const schedulerByProto = (value: Scheduler): (SchedulerInfo & { name: SchedulerName }) | undefined => byProto.get(value);

/** The row for a diffusers `_class_name`; undefined for classes the farm does not offer. */
export const schedulerByDiffusersClass = (className: string): (SchedulerInfo & { name: SchedulerName }) | undefined => byClass.get(className);

/** "ddim, pndm, … or lcm": the spellings, for help texts and error messages. */
export function schedulerNameList(spell: (name: SchedulerName) => string = (n) => n): string {
  const names = SCHEDULER_NAMES.map(spell);
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names.at(-1) ?? ''}`;
}
