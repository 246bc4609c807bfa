import { tempDir } from '@flotilla/test-servers';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseExecutor } from './executor-choice.js';

const root = process.getuid?.() === 0;

describe('choosing the executor', () => {
  const dir = tempDir('executor-choice');
  afterAll(() => dir.remove());
  const ctx = () => ({ stateDir: dir.path, nodeId: 'n1', output: () => undefined });

  it.skipIf(!root)('as root, never falls back to plain processes without being told: it says what to do', async () => {
    await expect(chooseExecutor({ containerdSocket: '/nonexistent/containerd.sock' }, ctx())).rejects.toThrow(
      /cannot use containerd at \/nonexistent\/containerd\.sock \(no socket there\): start containerd, or give --executor process/,
    );
    await expect(
      chooseExecutor({ executor: 'containerd', containerdSocket: '/nonexistent/containerd.sock' }, ctx()),
    ).rejects.toThrow(/no socket there/);
  });

  it('runs plain processes when told to, and says so', async () => {
    const chosen = await chooseExecutor(
      { executor: 'process', containerdSocket: '/nonexistent/containerd.sock' },
      ctx(),
    );
    expect(chosen).toMatchObject({ runtime: 'process', reason: 'asked for with --executor process' });
    await chosen.executor.close?.();
  });

  it.skipIf(root)('without root, auto runs plain processes and says why', async () => {
    const chosen = await chooseExecutor({}, ctx());
    expect(chosen.reason).toMatch(/not running as root/);
  });
});
