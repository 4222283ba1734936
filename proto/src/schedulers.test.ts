import { describe, expect, it } from 'vitest';
import { Scheduler } from './gen/latentfarm/v1/types.js';
import {
  SCHEDULERS, SCHEDULER_NAMES, isSchedulerName, schedulerByDiffusersClass, schedulerByName, schedulerByProto, schedulerNameList,
} from './schedulers.js';

describe('the scheduler table', () => {
  it('has one row for every scheduler the wire can name, and no other', () => {
    const wire = Object.values(Scheduler).filter((v): v is Scheduler => typeof v === 'number' && v !== Scheduler.UNSPECIFIED && v !== Scheduler.UNRECOGNIZED);
    expect(SCHEDULERS.map((s) => s.proto).sort()).toEqual([...wire].sort());
  });

  it('spells each one once, as its enum name in lower case, and finds it back every way', () => {
    expect(new Set(SCHEDULER_NAMES).size).toBe(SCHEDULERS.length);
    for (const s of SCHEDULERS) {
      expect(s.name).toBe(Scheduler[s.proto].toLowerCase());
      expect(isSchedulerName(s.name)).toBe(true);
      expect(schedulerByName(s.name)).toBe(s);
      expect(schedulerByName(s.name.toUpperCase())).toBe(s);
      expect(schedulerByProto(s.proto)).toBe(s);
      for (const c of s.diffusersClasses) expect(schedulerByDiffusersClass(c)).toBe(s);
    }
    const classes = SCHEDULERS.flatMap((s) => s.diffusersClasses);
    expect(new Set(classes).size).toBe(classes.length);
  });

  it('knows nothing of names, values and classes it does not offer', () => {
    expect(schedulerByName('no_such_scheduler')).toBeUndefined();
    expect(schedulerByName('unspecified')).toBeUndefined();
    expect(schedulerByProto(Scheduler.UNSPECIFIED)).toBeUndefined();
    expect(schedulerByProto(42 as Scheduler)).toBeUndefined();
    expect(schedulerByDiffusersClass('NoSuchScheduler')).toBeUndefined();
  });

  it('lists the spellings for messages, every one in table order', () => {
    const last = SCHEDULER_NAMES.at(-1) ?? '';
    expect(schedulerNameList()).toBe(`${SCHEDULER_NAMES.slice(0, -1).join(', ')} or ${last}`);
    expect(schedulerNameList()).toMatch(/^ddim, pndm, euler, .* or \w+$/);
    expect(schedulerNameList((n) => n.toUpperCase())).toMatch(/^DDIM, PNDM, EULER, .* or [A-Z_0-9]+$/);
  });
});
