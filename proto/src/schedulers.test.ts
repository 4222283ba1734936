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
    expect(schedulerByName('heun')).toBeUndefined();
    expect(schedulerByName('unspecified')).toBeUndefined();
    expect(schedulerByProto(Scheduler.UNSPECIFIED)).toBeUndefined();
    expect(schedulerByProto(42 as Scheduler)).toBeUndefined();
    expect(schedulerByDiffusersClass('HeunDiscreteScheduler')).toBeUndefined();
  });

  it('lists the spellings for messages', () => {
    expect(schedulerNameList()).toBe('ddim, pndm, euler, euler_ancestral, dpmpp_2m or lcm');
    expect(schedulerNameList((n) => n.toUpperCase())).toBe('DDIM, PNDM, EULER, EULER_ANCESTRAL, DPMPP_2M or LCM');
  });
});
