import { DESCRIPTION_METADATA_KEY } from '@flotilla/agent';
import { Code, FlotillaError, NodeDescription } from '@flotilla/api';
import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { nodeRuntime, runtimeKnown } from './node-runtime.js';

function described(description: Partial<NodeDescription>): Metadata {
  const metadata = new Metadata();
  metadata.set(
    DESCRIPTION_METADATA_KEY,
    Buffer.from(NodeDescription.encode(NodeDescription.fromPartial(description)).finish()),
  );
  return metadata;
}

describe('the runtime an agent describes with its session', () => {
  it('is read from the call metadata: executor, runtime and version only', () => {
    const metadata = described({ executor: 'process', runtime: 'process', runtimeVersion: 'v22', hostname: 'x' });
    expect(nodeRuntime(metadata)).toEqual({ executor: 'process', runtime: 'process', runtimeVersion: 'v22' });
  });

  it('carries the CPUs and memory the agent offers, and leaves them out when it reports none', () => {
    const offered = described({ executor: 'process', nanoCpus: 2_000_000_000n, memoryBytes: 8n * 1024n ** 3n });
    const runtime = nodeRuntime(offered);
    expect(runtime).toMatchObject({ nanoCpus: 2_000_000_000n, memoryBytes: 8n * 1024n ** 3n });
    // A stored description with other figures is not known yet: the next status write takes the reported ones.
    const stored = NodeDescription.fromPartial({ executor: 'process', nanoCpus: 4_000_000_000n, memoryBytes: 1n });
    expect(runtimeKnown(stored, runtime as NonNullable<typeof runtime>)).toBe(false);
    expect(runtimeKnown({ ...stored, nanoCpus: 2_000_000_000n, memoryBytes: 8n * 1024n ** 3n }, runtime!)).toBe(true);
    // An agent that reports no capacity (one from before, or a test's hollow node) keeps what was stored at join.
    const none = nodeRuntime(described({ executor: 'process' }));
    expect(none).not.toHaveProperty('nanoCpus');
    expect(none).not.toHaveProperty('memoryBytes');
    expect(runtimeKnown(stored, none!)).toBe(true);
  });

  it('is absent for an agent that sends none, so the stored description stays', () => {
    expect(nodeRuntime(new Metadata())).toBeUndefined();
  });

  it('is refused when it cannot be read or is over the limits', () => {
    const garbage = new Metadata();
    garbage.set(DESCRIPTION_METADATA_KEY, Buffer.from([0xff, 0xff, 0xff]));
    const refusal = (m: Metadata) => {
      try {
        nodeRuntime(m);
      } catch (err) {
        return err;
      }
      return undefined;
    };
    const unreadable = refusal(garbage);
    expect(unreadable).toBeInstanceOf(FlotillaError);
    expect((unreadable as FlotillaError).code).toBe(Code.InvalidArgument);
    expect((unreadable as FlotillaError).message).toContain('upgrade the agent');
    const long = refusal(described({ executor: 'x'.repeat(200) }));
    expect((long as FlotillaError).message).toBe('node description: executor is over the limit of 128 characters');
  });

  it('is known when the stored description says the same', () => {
    const reported = { executor: 'containerd', runtime: 'containerd', runtimeVersion: '1.7' };
    expect(runtimeKnown(NodeDescription.fromPartial(reported), reported)).toBe(true);
    expect(runtimeKnown(NodeDescription.fromPartial({ ...reported, executor: 'process' }), reported)).toBe(false);
    expect(runtimeKnown(undefined, reported)).toBe(false);
  });
});
