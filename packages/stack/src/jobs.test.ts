import { RestartPolicy_Condition, ServiceMode, type ServiceSpec } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { formatCompose } from './compose-output.js';
import { loadStackText } from './load.js';
import { loadErrors } from './load-errors.test-helpers.js';
import { toStackSpec } from './service-spec.js';

const stack = (extra: string[]) => ['services:', '  migrate:', '    image: migrate:1', ...extra, ''].join('\n');

function spec(yaml: string): ServiceSpec | undefined {
  return toStackSpec(loadStackText(yaml).stack, 'st').services[0];
}

describe('deploy.mode: replicated-job and global-job', () => {
  it('makes a replicated job whose parallelism and completions default to the replicas, as Docker does', () => {
    const s = spec(stack(['    deploy: { mode: replicated-job, replicas: 3 }']));
    expect(s?.mode).toBe(ServiceMode.SERVICE_MODE_REPLICATED_JOB);
    expect(s?.replicas).toBe(3n);
    expect(s?.job).toEqual({ maxConcurrent: 3n, totalCompletions: 3n });
  });

  it('takes Docker max_concurrent and total_completions under x-flotilla', () => {
    const s = spec(
      stack([
        '    deploy: { mode: replicated-job, replicas: 2 }',
        '    x-flotilla: { max_concurrent: 2, total_completions: 5 }',
      ]),
    );
    expect(s?.job).toEqual({ maxConcurrent: 2n, totalCompletions: 5n });
  });

  it('makes a global job with no replica count and no job limits', () => {
    const s = spec(stack(['    deploy: { mode: global-job }']));
    expect(s?.mode).toBe(ServiceMode.SERVICE_MODE_GLOBAL_JOB);
    expect(s?.replicas).toBe(0n);
    expect(s?.job).toBeUndefined();
  });

  it('retries a failed job task but never a finished one by default (on-failure, as swarm), unless told', () => {
    const job = spec(stack(['    deploy: { mode: replicated-job }']));
    expect(job?.restartPolicy?.condition).toBe(RestartPolicy_Condition.CONDITION_ON_FAILURE);
    const told = spec(stack(['    deploy: { mode: global-job, restart_policy: { condition: none } }']));
    expect(told?.restartPolicy?.condition).toBe(RestartPolicy_Condition.CONDITION_NONE);
    // A service keeps swarm's default.
    expect(spec(stack([]))?.restartPolicy?.condition).toBe(RestartPolicy_Condition.CONDITION_ANY);
  });

  it('is accepted with no warning, and shown in stack config with its limits', () => {
    const yaml = stack([
      '    deploy: { mode: replicated-job, replicas: 2 }',
      '    x-flotilla: { total_completions: 4 }',
    ]);
    const { stack: loaded, warnings } = loadStackText(yaml, { file: '/stack.yml' });
    expect(warnings).toEqual([]);
    const out = formatCompose(loaded, 'json');
    expect(out).toContain('"mode": "replicated-job"');
    expect(out).toContain('"replicas": 2');
    expect(out).toContain('"max_concurrent": 2');
    expect(out).toContain('"total_completions": 4');
  });

  it('warns that the job keys do nothing on a service that is not a replicated job', () => {
    const { warnings } = loadStackText(
      stack(['    deploy: { mode: global-job }', '    x-flotilla: { max_concurrent: 2 }']),
      {
        file: '/stack.yml',
      },
    );
    expect(warnings.map((w) => w.message)).toEqual([expect.stringContaining('only a replicated-job has it')]);
  });

  it('warns that update_config does nothing for a job, which is never rolled out', () => {
    const { warnings } = loadStackText(
      stack(['    deploy:', '      mode: replicated-job', '      update_config: { parallelism: 2 }']),
      { file: '/stack.yml' },
    );
    expect(warnings.map((w) => `${w.location?.line}:${w.location?.col} ${w.path}: ${w.message}`)).toEqual([
      '6:7 services.migrate.deploy.update_config: ignored: a job is not rolled out; each new spec version runs as a new run of the job',
    ]);
  });

  it('refuses a zero or negative count where it is written', () => {
    const out = loadErrors(
      stack(['    deploy: { mode: replicated-job }', '    x-flotilla:', '      total_completions: 0']),
    );
    expect(out).toContain('/stack.yml:6:26: services.migrate.x-flotilla.total_completions: 0 is out of range');
  });
});
