import { describe, expect, it } from 'vitest';
import { Debounce } from './debounce.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a debounce', () => {
  it('runs once after a burst of pokes', async () => {
    let runs = 0;
    const d = new Debounce(async () => void runs++, { quietMs: 10, maxDelayMs: 100 });
    for (let i = 0; i < 5; i++) d.poke();
    await sleep(60);
    expect(runs).toBe(1);
    await d.stop();
  });

  it('held, runs nothing until released, then once for the pokes that came meanwhile', async () => {
    let runs = 0;
    const d = new Debounce(async () => void runs++, { quietMs: 10, maxDelayMs: 20, held: true });
    d.poke();
    d.wakeAt(Date.now());
    await sleep(80);
    expect(runs).toBe(0);
    d.release();
    await sleep(60);
    expect(runs).toBe(1);
    d.poke();
    await sleep(60);
    expect(runs).toBe(2);
    await d.stop();
  });

  it('held and released with no poke meanwhile, runs nothing', async () => {
    let runs = 0;
    const d = new Debounce(async () => void runs++, { quietMs: 10, held: true });
    d.release();
    await sleep(40);
    expect(runs).toBe(0);
    await d.stop();
  });
});
