import { describe, expect, it } from 'vitest';
import { parseChallenges } from './registry-auth.js';

describe('parseChallenges', () => {
  it('reads a Bearer challenge with quoted parameters', () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.example.com/token',
          service: 'registry.example.com',
          scope: 'repository:a/b:pull,push',
        },
      },
    ]);
  });

  it('reads a Basic challenge, unquoted values and several challenges in one header', () => {
    expect(parseChallenges('Basic realm="flotilla test"')).toEqual([
      { scheme: 'basic', params: { realm: 'flotilla test' } },
    ]);
    expect(parseChallenges('Basic realm=x, Bearer realm="https://t/", error="invalid_token"')).toEqual([
      { scheme: 'basic', params: { realm: 'x' } },
      { scheme: 'bearer', params: { realm: 'https://t/', error: 'invalid_token' } },
    ]);
    expect(parseChallenges('Basic realm="a \\"quoted\\" name"')[0]?.params.realm).toBe('a "quoted" name');
    expect(parseChallenges('')).toEqual([]);
  });
});
