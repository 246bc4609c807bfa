import { describe, expect, it } from 'vitest';
import { ADMISSION_REFUSED, admissionError, admissionRefusals } from './admission-refusal.js';
import { Code } from './code.js';
import { FlotillaError, toGrpcStatus } from './flotilla-error.js';

describe('admission refusals on the wire', () => {
  const refusals = [
    { path: 'services.api.v2.cap_add[0]', message: 'CAP_SYS_ADMIN is refused: allowed by x: y' },
    { path: 'services.db', message: 'a non-root user: is required' },
  ];

  it('travel in the message of a PermissionDenied error and are read back as they were', () => {
    const err = admissionError('the deploy of stack web', refusals);
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.message).toContain('nothing was changed');
    const status = toGrpcStatus(err);
    const received = FlotillaError.from(Object.assign(new Error(status.details), status));
    expect(received.reason).toBe(ADMISSION_REFUSED);
    expect(admissionRefusals(received)).toEqual(refusals);
  });

  it('are none for any other error, and at most 50 are listed', () => {
    expect(admissionRefusals(new FlotillaError(Code.PermissionDenied, '  - services.x: no'))).toEqual([]);
    const many = Array.from({ length: 60 }, (_, i) => ({ path: `services.s${i}`, message: 'no' }));
    const err = admissionError('the deploy', many);
    expect(admissionRefusals(err)).toHaveLength(50);
    expect(err.message).toContain('(and 10 more)');
  });
});
