import { describe, expect, it } from 'vitest';
import { SchedulerConfigError, parseSchedulerConfig, resolveSchedulerConfig } from './config.js';
import { SD15_SCHEDULER_JSON } from './diffusers-fixtures.js';
import { linspace, roundHalfEven } from './numeric.js';
import { alphasCumprod, betas, karrasSigmas, sigmaToTimestep, spacedTimesteps, trainingSigmas } from './schedule.js';

describe('numeric helpers', () => {
  it('rounds halves to even as np.round does', () => {
    expect([0.5, 1.5, 2.5, 499.5, 498.5, -1.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, 500, 498, -2, 2, 3]);
  });

  it('builds linspace with an exact endpoint, and without it', () => {
    expect(Array.from(linspace(0, 999, 11)).map(roundHalfEven)).toEqual([0, 100, 200, 300, 400, 500, 599, 699, 799, 899, 999]);
    expect(Array.from(linspace(0, 50, 5, false))).toEqual([0, 10, 20, 30, 40]);
    expect(Array.from(linspace(3, 7, 1))).toEqual([3]);
  });
});

describe('timestep spacing (diffusers DDIMScheduler.set_timesteps)', () => {
  it('leading with steps_offset=1 gives 981, 961, …, 1 for 50 steps (SD 1.x)', () => {
    const ts = Array.from(spacedTimesteps('leading', 1000, 50, 1));
    expect(ts).toHaveLength(50);
    expect(ts.slice(0, 3)).toEqual([981, 961, 941]);
    expect(ts.at(-1)).toBe(1);
    // diffusers test_scheduler_ddim.py::test_steps_offset
    expect(Array.from(spacedTimesteps('leading', 1000, 5, 1))).toEqual([801, 601, 401, 201, 1]);
  });

  it('matches Table 2 of Lin et al. 2023 (the source of diffusers\' spacings) for 10 of 1000 steps', () => {
    expect(Array.from(spacedTimesteps('linspace', 1000, 10, 0))).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    expect(Array.from(spacedTimesteps('leading', 1000, 10, 1))).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(Array.from(spacedTimesteps('trailing', 1000, 10, 0))).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  });

  it('rounds trailing like np.round(np.arange(T, 0, -T/n)) - 1', () => {
    // 1000/3 = 333.33…: 1000, 666.67, 333.33 → 999, 666, 332
    expect(Array.from(spacedTimesteps('trailing', 1000, 3, 0))).toEqual([999, 666, 332]);
    // SD-Turbo style single step
    expect(Array.from(spacedTimesteps('trailing', 1000, 1, 0))).toEqual([999]);
    // n where NumPy's float-step arange would return n + 1 values: we return n.
    expect(spacedTimesteps('trailing', 1000, 61, 0)).toHaveLength(61);
  });
});

describe('noise schedule', () => {
  const sd15 = resolveSchedulerConfig('euler', parseSchedulerConfig(SD15_SCHEDULER_JSON));

  it('reproduces Stable Diffusion\'s well-known sigma range and final alpha product', () => {
    const cumprod = alphasCumprod(sd15);
    const sigmas = trainingSigmas(cumprod);
    // k-diffusion / A1111 list SD's sigma_min = 0.029167532920837402, sigma_max ≈ 14.6146.
    expect(sigmas[0]).toBe(0.029167532920837402);
    expect(sigmas[999]).toBeCloseTo(14.6146, 4);
    expect(cumprod[999]).toBeCloseTo(0.0046601, 6);
  });

  it('builds linear and cosine betas', () => {
    const linear = betas(resolveSchedulerConfig('ddim'));
    expect(linear[0]).toBeCloseTo(0.0001, 9);
    expect(linear[999]).toBeCloseTo(0.02, 9);
    const cosine = betas(resolveSchedulerConfig('ddim', { betaSchedule: 'squaredcos_cap_v2' }));
    expect(Math.max(...cosine)).toBeCloseTo(0.999, 6); // capped at max_beta
    expect(cosine[0]).toBeGreaterThan(0);
    const trained = betas(resolveSchedulerConfig('ddim', { trainedBetas: [0.1, 0.2] }));
    expect(Array.from(trained)).toEqual([Math.fround(0.1), Math.fround(0.2)]);
  });

  it('spaces Karras sigmas with rho = 7 and maps sigmas back to timesteps', () => {
    const ks = karrasSigmas(0.1, 10, 3);
    expect(ks[0]).toBeCloseTo(10, 12);
    expect(ks[2]).toBeCloseTo(0.1, 12);
    expect(ks[1]).toBeCloseTo(((10 ** (1 / 7) + 0.1 ** (1 / 7)) / 2) ** 7, 12);
    const logSigmas = trainingSigmas(alphasCumprod(sd15)).map(Math.log);
    expect(sigmaToTimestep(Math.exp(logSigmas[400] ?? 0), logSigmas)).toBeCloseTo(400, 6);
    const mid = Math.exp(((logSigmas[400] ?? 0) + (logSigmas[401] ?? 0)) / 2);
    expect(sigmaToTimestep(mid, logSigmas)).toBeCloseTo(400.5, 6);
    expect(sigmaToTimestep(1e-6, logSigmas)).toBe(0); // clamped below the schedule
    expect(sigmaToTimestep(1e6, logSigmas)).toBe(999); // and above
  });
});

describe('scheduler_config.json', () => {
  it('reads SD 1.5\'s config and fills the rest with each scheduler\'s own defaults', () => {
    const file = parseSchedulerConfig(SD15_SCHEDULER_JSON);
    const euler = resolveSchedulerConfig('euler', file);
    expect(euler).toMatchObject({
      betaSchedule: 'scaled_linear',
      betaStart: 0.00085,
      stepsOffset: 1,
      timestepSpacing: 'linspace', // Euler's default: the file has no timestep_spacing
      predictionType: 'epsilon',
    });
    expect(euler.trainedBetas).toBeUndefined();
    expect(resolveSchedulerConfig('ddim', file)).toMatchObject({ timestepSpacing: 'leading', setAlphaToOne: false, clipSample: false });
    expect(resolveSchedulerConfig('pndm', file).skipPrkSteps).toBe(true);
  });

  it('applies job overrides last', () => {
    const file = parseSchedulerConfig(SD15_SCHEDULER_JSON);
    const overrides = parseSchedulerConfig({ timestep_spacing: 'trailing', use_karras_sigmas: true }, 'job overrides');
    expect(resolveSchedulerConfig('dpmpp_2m', file, overrides)).toMatchObject({ timestepSpacing: 'trailing', useKarrasSigmas: true });
  });

  it('rejects invalid values and unsupported features, naming the source and key', () => {
    expect(() => parseSchedulerConfig({ beta_schedule: 'sigmoid' })).toThrow(
      /scheduler_config\.json: beta_schedule must be one of linear, scaled_linear, squaredcos_cap_v2/,
    );
    expect(() => parseSchedulerConfig({ num_train_timesteps: 0 }, 'job')).toThrow(/job: num_train_timesteps must be a positive integer/);
    expect(() => parseSchedulerConfig({ thresholding: true })).toThrow(SchedulerConfigError);
    expect(() => parseSchedulerConfig({ rescale_betas_zero_snr: true })).toThrow(/rescale_betas_zero_snr true is not supported/);
    expect(() => parseSchedulerConfig([])).toThrow(/must be a JSON object/);
    // Defaults of unsupported features are fine, as are unknown keys.
    expect(parseSchedulerConfig({ thresholding: false, algorithm_type: 'dpmsolver++', foo: 1 })).toEqual({});
  });
});
