import { describe, expect, it } from 'vitest';
import { ContinuousBatcher } from './continuous-batcher.js';

interface Item { group: string; signal: AbortSignal; name: string; step: number; total: number; done: Promise<string> & { resolve?: (s: string) => void } }

function item(name: string, total: number, group = 'g', signal = new AbortController().signal): Item & { resolve: (s: string) => void } {
  let resolve!: (s: string) => void;
  const done = new Promise<string>((r) => { resolve = r; });
  return { group, signal, name, step: 0, total, done, resolve };
}

describe('ContinuousBatcher', () => {
  it('lets items join a running batch at a step boundary and leave when done', async () => {
    const calls: string[][] = [];
    let release: () => void = () => undefined;
    let stepStarted: () => void = () => undefined;
    let started = new Promise<void>((r) => { stepStarted = r; });
    const b = new ContinuousBatcher<ReturnType<typeof item>>(3, {
      step: async (_g, items) => {
        calls.push(items.map((i) => `${i.name}${i.step}`));
        await new Promise<void>((r) => { release = r; stepStarted(); });
        for (const i of items) i.step++;
      },
      isDone: (i) => i.step >= i.total,
      leave: (i, o) => i.resolve(o.aborted ? 'aborted' : 'done'),
    });
    const next = async () => {
      started = new Promise<void>((r) => { stepStarted = r; });
      release();
      await started;
    };
    const a = item('a', 3);
    const c = item('c', 2);
    b.add(a);
    await started; // a's first step is in flight
    b.add(c); // joins at the next step boundary
    await next();
    await next();
    release();
    await Promise.all([a.done, c.done]);
    expect(calls).toEqual([['a0'], ['a1', 'c0'], ['a2', 'c1']]);
  });

  it('starts items added in one go in one step', async () => {
    const calls: number[] = [];
    const b = new ContinuousBatcher<ReturnType<typeof item>>(4, {
      step: async (_g, items) => { calls.push(items.length); for (const i of items) i.step++; await Promise.resolve(); },
      isDone: (i) => i.step >= i.total,
      leave: (i) => i.resolve('done'),
    });
    const items = ['a', 'b', 'c'].map((n) => item(n, 2));
    for (const i of items) b.add(i);
    await Promise.all(items.map((i) => i.done));
    expect(calls).toEqual([3, 3]);
  });

  it('never runs more than max batch; the rest wait their turn', async () => {
    const sizes: number[] = [];
    const b = new ContinuousBatcher<ReturnType<typeof item>>(2, {
      step: async (_g, items) => { sizes.push(items.length); for (const i of items) i.step++; await Promise.resolve(); },
      isDone: (i) => i.step >= i.total,
      leave: (i) => i.resolve('done'),
    });
    const items = [item('a', 2), item('b', 2), item('c', 2)];
    for (const i of items) b.add(i);
    await Promise.all(items.map((i) => i.done));
    expect(Math.max(...sizes)).toBe(2);
    expect(sizes.reduce((x, y) => x + y, 0)).toBe(6);
  });

  it('takes turns between groups and drops aborted items; a failed step fails only its items', async () => {
    const seen: string[] = [];
    const b = new ContinuousBatcher<ReturnType<typeof item>>(4, {
      step: async (g, items) => {
        seen.push(g);
        if (items.some((i) => i.name === 'bad')) throw new Error('boom');
        for (const i of items) i.step++;
        await Promise.resolve();
      },
      isDone: (i) => i.step >= i.total,
      leave: (i, o) => i.resolve(o.error !== undefined ? 'error' : o.aborted ? 'aborted' : 'done'),
    });
    const ac = new AbortController();
    const x = item('x', 3, 'g1');
    const y = item('y', 3, 'g2');
    const z = item('z', 100, 'g1', ac.signal);
    const bad = item('bad', 3, 'g3');
    for (const i of [x, y, z, bad]) b.add(i);
    ac.abort();
    expect(await Promise.all([x.done, y.done, z.done, bad.done])).toEqual(['done', 'done', 'aborted', 'error']);
    expect(seen.slice(0, 3).sort()).toEqual(['g1', 'g2', 'g3']);
  });

  it('tells its observer when the device goes busy and idle, and of each gap between back-to-back steps', async () => {
    const events: string[] = [];
    const b = new ContinuousBatcher<ReturnType<typeof item>>(2, {
      step: async (_g, items) => { events.push(`step${items.length}`); for (const i of items) i.step++; await Promise.resolve(); },
      isDone: (i) => i.step >= i.total,
      leave: (i) => i.resolve('done'),
    }, {
      onIdle: (idle) => events.push(idle ? 'idle' : 'busy'),
      onGap: (seconds) => events.push(seconds >= 0 ? 'gap' : 'negative gap'),
    });
    const a = item('a', 3);
    b.add(a);
    await a.done;
    await new Promise<void>((r) => setImmediate(r));
    const c = item('c', 1);
    b.add(c);
    await c.done;
    await new Promise<void>((r) => setImmediate(r));
    expect(events).toEqual(['busy', 'step1', 'gap', 'step1', 'gap', 'step1', 'idle', 'busy', 'step1', 'idle']);
  });
});
