// The worker offers exactly the farm's scheduler table: one implementation per
// row, reporting the row's name, with the row's diffusers defaults.
import { describe, expect, it } from 'vitest';
import { SCHEDULERS, schedulerByDiffusersClass } from '@latentfarm/proto';
import { SCHEDULER_KINDS, createScheduler, parseSchedulerConfig, resolveSchedulerConfig } from './index.js';

describe('the scheduler table in the worker', () => {
  it('has an implementation for every row, reporting the row\'s name', () => {
    expect(SCHEDULER_KINDS).toEqual(SCHEDULERS.map((s) => s.name));
    for (const { name } of SCHEDULERS) expect(createScheduler(name, resolveSchedulerConfig(name), 10).kind).toBe(name);
  });

  it('fills what a model\'s file leaves out with the row\'s diffusers defaults, and the file wins', () => {
    for (const row of SCHEDULERS) {
      const resolved = resolveSchedulerConfig(row.name);
      expect(resolved, row.name).toMatchObject(parseSchedulerConfig(row.diffusersDefaults));
    }
    expect(resolveSchedulerConfig('euler').timestepSpacing).toBe('linspace');
    expect(resolveSchedulerConfig('ddim').timestepSpacing).toBe('leading');
    expect(resolveSchedulerConfig('euler', parseSchedulerConfig({ timestep_spacing: 'leading' })).timestepSpacing).toBe('leading');
  });

  it('reads a model folder\'s diffusers class through the table', () => {
    expect(schedulerByDiffusersClass('EulerAncestralDiscreteScheduler')?.name).toBe('euler_ancestral');
    expect(schedulerByDiffusersClass('LCMScheduler')?.name).toBe('lcm');
  });
});
