/**
 * Property-based tests with hostile input, run without a server: the quoting function through a
 * real local sh, branch slugging, environment names, every string field of toss.json, `-s` pairs,
 * env files and the PR comment body. Nothing is ever executed (a canary file never appears); each
 * value is used byte for byte, slugged, or rejected with a message naming where it came from.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { commentBody, commentMarker } from '../../src/action/comment.js';
import {
  branchToPreviewName,
  isEnvName,
  isPrEnvName,
  validateEnvName,
} from '../../src/config/env-name.js';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError, TossError } from '../../src/errors.js';
import { shellJoin, shellQuote } from '../../src/remote/quote.js';
import { buildSiteFile } from '../../src/server/caddy-site.js';
import {
  applyOverrideArgs,
  envValueProblem,
  parseEnvFile,
  serializeEnvFile,
} from '../../src/server/env-file.js';
import { branchLike, hostileString } from '../support/hostile.js';

const RUNS = 500;
const ID = randomBytes(6).toString('hex');
const CANARY = `/tmp/canary-${ID}`;
const hostile = hostileString(CANARY);
const hostileWithNul = hostileString(CANARY, { nul: true });
const SHELLS = ['/bin/sh', '/bin/bash', '/bin/dash'].filter((s) => existsSync(s));

afterAll(() => {
  expect(existsSync(CANARY), `${CANARY} was created: something evaluated a value`).toBe(false);
});

describe('shellQuote through real shells', () => {
  it(`passes ${RUNS} hostile values byte for byte (or refuses a NUL), executing nothing`, () => {
    fc.assert(
      fc.property(hostileWithNul, (value) => {
        if (value.includes('\0')) {
          expect(() => shellQuote(value)).toThrow(TossError);
          expect(() => shellQuote(value)).toThrow(/NUL/);
          return;
        }
        const out = execFileSync('/bin/sh', ['-c', shellJoin(['printf', '%s|%s', value, value])]);
        expect(out.equals(Buffer.from(`${value}|${value}`, 'utf8'))).toBe(true);
        expect(existsSync(CANARY)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  }, 120_000);

  it(`the same ${RUNS} kinds of values in one script for each of ${SHELLS.join(', ')}`, () => {
    const values = fc.sample(hostile, RUNS);
    // printf '\0' between values: no value holds a NUL, so the output splits back exactly.
    const script = values.map((v) => `${shellJoin(['printf', '%s', v])}; printf '\\0'`).join('\n');
    for (const shell of SHELLS) {
      const parts = execFileSync(shell, ['-s'], { input: script, maxBuffer: 64 << 20 })
        .toString('utf8')
        .split('\0');
      expect(parts.pop()).toBe('');
      // What a process receives is the UTF-8 encoding: a lone surrogate (a string cut inside a
      // pair) has none and becomes U+FFFD on the way, as in the byte comparison above.
      expect(parts).toEqual(values.map((v) => Buffer.from(v, 'utf8').toString('utf8')));
    }
    expect(existsSync(CANARY)).toBe(false);
  });
});

describe('branch names → preview names', () => {
  it(`always a valid, unreserved environment name; kept only when already one (${RUNS} branches)`, () => {
    fc.assert(
      fc.property(branchLike(CANARY), (branch) => {
        const name = branchToPreviewName(branch);
        expect(isEnvName(name), name).toBe(true);
        expect(name).not.toBe('production');
        expect(isPrEnvName(name)).toBe(false);
        expect(branchToPreviewName(branch)).toBe(name);
        if (name !== branch) expect(name).toMatch(/-[0-9a-f]{8}$/);
      }),
      { numRuns: RUNS },
    );
  });

  it('two different branches never share an environment', () => {
    fc.assert(
      fc.property(branchLike(CANARY), branchLike(CANARY), (a, b) => {
        fc.pre(a !== b);
        expect(branchToPreviewName(a)).not.toBe(branchToPreviewName(b));
      }),
      { numRuns: RUNS },
    );
    // Classic collisions of naive slugging.
    const pairs = [
      ['Feature/X', 'feature-x'],
      ['a/b', 'a-b'],
      ['a_b', 'a-b'],
      ['pr-1', 'PR-1'],
    ] as const;
    for (const [a, b] of pairs) expect(branchToPreviewName(a)).not.toBe(branchToPreviewName(b));
  });
});

describe('environment names from outside', () => {
  it(`are accepted unchanged or rejected naming the field, never rewritten (${RUNS} values)`, () => {
    fc.assert(
      fc.property(fc.oneof(hostileWithNul, fc.stringMatching(/^[a-z][a-z0-9]{0,20}$/)), (value) => {
        if (isEnvName(value)) {
          expect(validateEnvName(value, 'environment')).toBe(value);
          expect(value).toMatch(/^[a-z0-9-]+$/);
        } else {
          let error: unknown;
          try {
            validateEnvName(value, 'environment');
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(ConfigError);
          const message = (error as Error).message;
          expect(message).toContain('environment: expected an environment name');
          // The echoed value is escaped and cut: no raw newline, NUL or 1,000 characters of it.
          expect(message).not.toMatch(/[\0\n\r]/);
          expect(message.length).toBeLessThan(300);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

const BASE = {
  app: 'hello',
  server: 'root@203.0.113.10',
  startCommand: 'node server.js',
  deployScript: ['node build.js'],
};
const HASH = `$2a$14$${'a'.repeat(21)}e${'a'.repeat(31)}`;
/** Each string field of toss.json, as a config with the hostile value put there. */
const FIELDS: Record<string, (v: string) => Record<string, unknown>> = {
  app: (v) => ({ ...BASE, app: v }),
  server: (v) => ({ ...BASE, server: v }),
  domain: (v) => ({ ...BASE, domain: v }),
  previewDomain: (v) => ({ ...BASE, domain: 'myapp.com', previewDomain: v }),
  startCommand: (v) => ({ ...BASE, startCommand: v }),
  'deployScript[0]': (v) => ({ ...BASE, deployScript: [v] }),
  'dependencies[name]': (v) => ({ ...BASE, dependencies: { [v]: 'true' } }),
  'dependencies.x': (v) => ({ ...BASE, dependencies: { x: v } }),
  'persistentDirs[0]': (v) => ({ ...BASE, persistentDirs: [v] }),
  'healthCheck.path': (v) => ({ ...BASE, healthCheck: { path: v } }),
  'branches[key]': (v) => ({ ...BASE, branches: { [v]: 'production' } }),
  'branches.main': (v) => ({ ...BASE, branches: { main: v } }),
  tls: (v) => ({ ...BASE, tls: v }),
  'previewAuth.user': (v) => ({ ...BASE, previewAuth: { user: v, passwordHash: HASH } }),
  'previewAuth.passwordHash': (v) => ({ ...BASE, previewAuth: { user: 'team', passwordHash: v } }),
  'resources.memory': (v) => ({ ...BASE, resources: { memory: v } }),
  'resources.cpu': (v) => ({ ...BASE, resources: { cpu: v } }),
  root: (v) => ({ ...BASE, root: v }),
  'exclude[0]': (v) => ({ ...BASE, exclude: [v] }),
};

describe('every string field of toss.json', () => {
  for (const [field, make] of Object.entries(FIELDS)) {
    it(`${field}: accepted or rejected with one clear line per problem (${RUNS} values)`, () => {
      fc.assert(
        fc.property(hostileWithNul, (value) => {
          let config: ReturnType<typeof parseConfig> | undefined;
          let error: unknown;
          try {
            config = parseConfig(make(value));
          } catch (e) {
            error = e;
          }
          if (error !== undefined) {
            expect(error).toBeInstanceOf(ConfigError);
            const lines = (error as ConfigError).message.split('\n');
            for (const line of lines) {
              expect(line).toMatch(/^toss\.json: /);
              expect(line.length).toBeLessThan(400);
            }
            expect((error as Error).message).toMatch(/expected|unknown field/);
            return;
          }
          // Accepted values that end up in a Caddy site, a unit name or a path are plain.
          if (field === 'app') expect(value).toMatch(/^[a-z][a-z0-9-]*$/);
          if (field === 'domain' || field === 'previewDomain')
            expect(value).toMatch(/^[a-z0-9.-]+$/);
          if (field === 'previewAuth.user') {
            // Whatever the schema accepts, the Caddy site writer must take too (or it fails late,
            // after connecting, instead of before).
            expect(() =>
              buildSiteFile({
                hostName: 'pr-1.preview.myapp.com',
                port: 3000,
                tls: 'auto',
                basicAuth: config!.previewAuth!,
              }),
            ).not.toThrow();
          }
          if (field === 'persistentDirs[0]' || field === 'root' || field === 'exclude[0]')
            expect(value).not.toMatch(/[\0\n\r]/);
        }),
        { numRuns: RUNS },
      );
    });
  }
});

describe('secret values, -s pairs and env files', () => {
  it(`-s KEY=VALUE: hostile values round-trip through the env file systemd reads (${RUNS})`, () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,30}$/),
        hostileWithNul,
        (key, value) => {
          let entries: Map<string, string> | undefined;
          let error: unknown;
          try {
            entries = applyOverrideArgs(new Map(), [`${key}=${value}`]);
          } catch (e) {
            error = e;
          }
          const problem = envValueProblem(value);
          if (problem !== undefined) {
            // NUL, or a noncharacter systemd refuses: rejected, naming the key and the character.
            expect(error).toBeInstanceOf(ConfigError);
            expect((error as Error).message).toContain(`-s ${key}: the value contains `);
            return;
          }
          expect(error).toBeUndefined();
          if (value === '') {
            expect(entries!.has(key)).toBe(false);
            return;
          }
          const text = serializeEnvFile(entries!);
          expect(parseEnvFile(text).get(key)).toBe(value);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it(`-s with a hostile key is rejected with the expected form (${RUNS})`, () => {
    fc.assert(
      fc.property(hostile, hostile, (key, value) => {
        const arg = `${key}=${value}`;
        const eq = arg.indexOf('=');
        const realKey = arg.slice(0, eq);
        fc.pre(!/^[A-Za-z_][A-Za-z0-9_]*$/.test(realKey));
        expect(() => applyOverrideArgs(new Map(), [arg])).toThrow(
          /expected KEY=VALUE \(KEY= removes it\)/,
        );
      }),
      { numRuns: RUNS },
    );
  });
});

describe('the PR comment', () => {
  it(`carries exactly one marker whatever the branch, commit, URL or environment (${RUNS})`, () => {
    fc.assert(
      fc.property(
        branchLike(CANARY),
        fc.stringMatching(/^[0-9a-f]{40}$/),
        fc.constantFrom('deploying', 'live', 'failed', 'removed' as const),
        (branch, sha, status) => {
          const environment = branchToPreviewName(branch);
          const body = commentBody({
            app: 'hello',
            environment,
            status,
            at: new Date(0),
            url: `https://${environment}.preview.myapp.com/`,
            commit: sha,
            release: '20260101T000000Z',
            runUrl: 'https://github.com/octo/hello/actions/runs/1',
            failedStep: status === 'failed' ? 'Run deployScript' : undefined,
          });
          expect(body.split('<!--').length - 1).toBe(1);
          expect(body.startsWith(commentMarker('hello'))).toBe(true);
          expect(body).not.toContain('<script');
          // The branch's raw text never reaches the comment (only its slug, which is plain).
          if (/[^a-z0-9-]/.test(branch) && branch.trim().length >= 4) {
            expect(body).not.toContain(branch);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
