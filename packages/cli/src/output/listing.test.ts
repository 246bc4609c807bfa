import { Command } from '@commander-js/extra-typings';
import type { ControlServiceClient } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { runProgram } from '../capture-io.test-helpers.js';
import { nodeCommand } from '../commands/node.js';
import { serviceCommand } from '../commands/service.js';
import { stackCommand } from '../commands/stack.js';
import type { Io } from '../io.js';
import { LISTING_FIELDS } from './listing.js';

/** A program whose client must never be made: a bad --format is refused before the cluster is asked. */
function program(io: Io) {
  const never = (): ControlServiceClient => {
    throw new Error('the cluster was asked although the --format was bad');
  };
  return new Command('flotilla')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .addCommand(serviceCommand(io, never))
    .addCommand(nodeCommand(io, never))
    .addCommand(stackCommand(io, never));
}

describe('--format of the listings', () => {
  it('refuses an unknown template field with exit 2, naming the fields of that listing', async () => {
    const cases: [string[], readonly string[]][] = [
      [['service', 'ls'], LISTING_FIELDS.service],
      [['service', 'ps', 'web'], LISTING_FIELDS.task],
      [['node', 'ls'], LISTING_FIELDS.node],
      [['stack', 'ls'], LISTING_FIELDS.stack],
      [['stack', 'ps', 'web'], LISTING_FIELDS.task],
    ];
    for (const [args, fields] of cases) {
      const run = await runProgram(program, [...args, '--format', '{{.Nope}}']);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.err).toContain('no field "Nope"');
      expect(run.err).toContain(fields.map((f) => `.${f}`).join(' '));
      expect(run.err).not.toContain('the cluster was asked');
      expect(run.out).toBe('');
    }
  });

  it('refuses a format that is neither table, json, raw nor a template', async () => {
    const run = await runProgram(program, ['node', 'ls', '--format', 'yaml']);
    expect(run.code).toBe(2);
    expect(run.err).toContain('use table, json, raw, or a Go template');
  });

  it("has docker's fields for each listing", () => {
    expect(LISTING_FIELDS.service).toEqual(
      expect.arrayContaining(['ID', 'Name', 'Mode', 'Replicas', 'Image', 'Ports']),
    );
    expect(LISTING_FIELDS.node).toEqual(
      expect.arrayContaining(['ID', 'Hostname', 'Status', 'Availability', 'ManagerStatus', 'EngineVersion']),
    );
    expect(LISTING_FIELDS.task).toEqual(
      expect.arrayContaining(['ID', 'Name', 'Image', 'Node', 'DesiredState', 'CurrentState', 'Error', 'Ports']),
    );
    expect(LISTING_FIELDS.stack).toEqual(expect.arrayContaining(['Name', 'Services']));
  });
});
