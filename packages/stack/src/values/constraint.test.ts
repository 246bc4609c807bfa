import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConstraint, parseSpread } from './constraint.js';
import { ValueError } from './value-error.js';

// Any UTF-16 code units, lone surrogates included (fast-check's 'binary' unit is slow to warm up).
const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });

describe('parseConstraint', () => {
  it.each([
    ['node.role==manager', 'node.role', '==', 'manager'],
    ['node.role == worker', 'node.role', '==', 'worker'],
    ['node.role!=Manager', 'node.role', '!=', 'manager'],
    ['node.labels.zone == b', 'node.labels.zone', '==', 'b'],
    ['  node.labels.zone==b  ', 'node.labels.zone', '==', 'b'],
    ['node.hostname != web-1', 'node.hostname', '!=', 'web-1'],
    ['engine.labels.os==linux', 'engine.labels.os', '==', 'linux'],
    ['node.platform.os==linux', 'node.platform.os', '==', 'linux'],
    ['node.platform.arch==x86_64', 'node.platform.arch', '==', 'x86_64'],
    ['node.id==2ivku8v2gvtg4', 'node.id', '==', '2ivku8v2gvtg4'],
    ['Node.Hostname==Web-1', 'node.hostname', '==', 'Web-1'],
    ['NODE.LABELS.Zone==East', 'node.labels.Zone', '==', 'East'],
    ['Engine.Labels.com.example.tier==Front_End', 'engine.labels.com.example.tier', '==', 'Front_End'],
    ['node.labels.region==us east (1)', 'node.labels.region', '==', 'us east (1)'],
    ['node.labels.path==/data/*', 'node.labels.path', '==', '/data/*'],
    ['node.labels.a-b_c==1', 'node.labels.a-b_c', '==', '1'],
  ])('parses %j', (input, field, operator, value) => {
    expect(parseConstraint(input)).toEqual({ field, operator, value });
  });

  it.each([
    ['node.role=manager', /unknown operator "="; use == or !=/],
    ['node.role>manager', /unknown operator ">"/],
    ['node.role<manager', /unknown operator "<"/],
    ['node.role>=manager', /unknown operator ">="/],
    ['node.role~=manager', /unknown operator "~="/],
    ['node.role===manager', /unknown operator "==="/],
    ['node.role!==manager', /unknown operator "!=="/],
    ['node.role manager', /no operator; use == or !=/],
    ['', /no operator/],
    ['node.labels.a==b==c', /only one operator is allowed/],
    ['node.labels.a==b!=c', /only one operator is allowed/],
    ['==manager', /the field is missing before ==/],
    ['node.role==', /the value is missing after ==/],
    ['node.role==  ', /the value is missing/],
    ['node.role==leader', /node.role is manager or worker, not "leader"/],
    ['node.labels==x', /the label key is missing; write node.labels.<key>/],
    ['node.labels.==x', /the label key is missing/],
    ['engine.labels.==x', /write engine.labels.<key>/],
    ['node.labels.my zone==x', /label key "my zone" may only use letters, digits/],
    ['node.labels.a/b==x', /label key "a\/b"/],
    ['node.labels.zone==a,b', /value "a,b" may only use/],
    ['node.labels.zone=="b"', /value "\\"b\\"" may only use/],
    ['node.name==web', /unknown field "node.name"/],
    ['zone==b', /unknown field "zone"; known fields are node.id/],
  ])('rejects %j', (input, message) => {
    expect(() => parseConstraint(input)).toThrow(ValueError);
    expect(() => parseConstraint(input)).toThrow(message);
  });

  it.each([
    ['node.lables.zone==b', 'node.labels.zone'],
    ['node.label.zone==b', 'node.labels.zone'],
    ['nodes.labels.Zone==b', 'node.labels.Zone'],
    ['engine.label.os==linux', 'engine.labels.os'],
    ['node.hostnme==a', 'node.hostname'],
    ['node.host==a', 'node.hostname'],
    ['node.roles==manager', 'node.role'],
    ['node.platform.arc==amd64', 'node.platform.arch'],
    ['node.platform==linux', 'node.platform.os'],
    ['node.hostnam==a', 'node.hostname'],
    ['node.os==linux', 'node.platform.os'],
    ['node.arch==arm64', 'node.platform.arch'],
    ['node.ID2==x', 'node.id'],
  ])('suggests a field for the typo in %j', (input, suggestion) => {
    expect(() => parseConstraint(input)).toThrow(`did you mean ${suggestion}?`);
  });

  it('does not suggest a far-off field', () => {
    expect(() => parseConstraint('datacenter==east')).toThrow(ValueError);
    expect(() => parseConstraint('datacenter==east')).not.toThrow(/did you mean/);
  });

  it('names the whole constraint in the message', () => {
    expect(() => parseConstraint('node.role=manager')).toThrow(
      'invalid constraint "node.role=manager": unknown operator',
    );
  });

  it('rejects non-string input with a ValueError', () => {
    expect(() => parseConstraint(7 as unknown as string)).toThrow(/invalid constraint 7: no operator/);
    expect(() => parseConstraint(null as unknown as string)).toThrow(/got null/);
  });

  it('never throws anything but ValueError', () => {
    const inputs = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      utf16,
      fc.stringMatching(
        /^ ?(node|engine|nod)\.(labels?|role|id|hostname|platform)(\.[a-zA-Z ]{0,4})? ?[=!<>~]{1,3} ?\w{0,5}$/,
      ),
    );
    fc.assert(
      fc.property(inputs, (input) => {
        try {
          const constraint = parseConstraint(input);
          return constraint.value !== '' && constraint.field === constraint.field.trim();
        } catch (error) {
          return error instanceof ValueError;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseSpread', () => {
  it.each([
    ['node.labels.zone', 'node.labels.zone'],
    ['Node.Labels.Zone', 'node.labels.Zone'],
    [' engine.labels.rack ', 'engine.labels.rack'],
    ['node.hostname', 'node.hostname'],
    ['node.platform.arch', 'node.platform.arch'],
  ])('parses %j', (input, expected) => {
    expect(parseSpread(input)).toBe(expected);
  });

  it.each([
    ['', /write a label such as node.labels.zone/],
    ['   ', /write a label such as node.labels.zone/],
    ['node.labels', /the label key is missing/],
    ['node.lables.zone', /did you mean node.labels.zone\?/],
    ['zone', /unknown field "zone"/],
    ['node.labels.zone==a', /label key "zone==a"/],
  ])('rejects %j', (input, message) => {
    expect(() => parseSpread(input)).toThrow(ValueError);
    expect(() => parseSpread(input)).toThrow(message);
  });

  it('never throws anything but ValueError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), utf16), (input) => {
        try {
          return parseSpread(input).length > 0;
        } catch (error) {
          return error instanceof ValueError;
        }
      }),
      { numRuns: 300 },
    );
  });
});
