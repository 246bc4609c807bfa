import { describe, expect, it } from 'vitest';
import * as values from './index.js';

describe('values index', () => {
  it('re-exports every parser, formatter and ValueError', () => {
    expect(Object.keys(values).sort()).toEqual([
      'ValueError',
      'formatBytes',
      'formatCpus',
      'formatDuration',
      'formatImageRef',
      'ignoredSecurityOpt',
      'normalizeImageRef',
      'parseBytes',
      'parseConstraint',
      'parseCpus',
      'parseDuration',
      'parseImageRef',
      'parsePortRange',
      'parsePortShort',
      'parsePublished',
      'parseSecurityOpt',
      'parseSpread',
      'parseTmpfs',
    ]);
  });

  it('throws the re-exported ValueError', () => {
    expect(() => values.parseDuration('10')).toThrow(values.ValueError);
  });
});
