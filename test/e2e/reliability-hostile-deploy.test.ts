/**
 * Hostile input through full deploys: per property, 20 generated cases run the real `toss deploy`
 * against one real host, sequentially, reusing one checkout:
 * - secret values through `-s KEY=<value>` (generated keys): the env file on the host parses back
 *   to the value, the running app sees exactly it, and the value appears in no output;
 * - `-s` pairs with hostile keys and environment names: rejected with a clear message and exit 1 (a ConfigError),
 *   before any SSH login;
 * - hostile values in toss.json string fields: rejected naming the field before connecting, or
 *   deployed with nothing executed.
 * The canary file every payload would create never appears on the host.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envValueProblem, parseEnvFile } from '../../src/server/env-file.js';
import { hostileString } from '../support/hostile.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import {
  type AppCheckout,
  fetchSite,
  inHost,
  makeApp,
  sshLogins,
  sslipName,
  toss,
} from './support/app.js';
import { addTestRoutes, readStateOn, releaseOf, reportRow } from './support/reliability.js';

const CASES = 20;
const ID = randomBytes(6).toString('hex');
const CANARY = `/tmp/canary-${ID}`;
const APP = 'hostiled';
let host: TestHost;
let app: AppCheckout;
let baseConfig: Record<string, unknown>;
const rows: Array<{ scenario: string; runs: number; survived: number; lost: number }> = [];

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, { app: APP, healthCheck: { path: '/up', timeout: 20 } });
  addTestRoutes(app.dir);
  await app.commit('message.txt', 'hostile\n');
  baseConfig = app.config();
  const first = await toss(host, ['deploy', 'production'], { cwd: app.dir });
  expect(first.code, first.output).toBe(0);
});
afterAll(async () => {
  for (const row of rows) reportRow(row);
  await host?.shutdown();
});

async function noCanary() {
  const found = await host.exec(['sh', '-c', 'ls /tmp/canary-* 2>/dev/null | grep -q .']);
  expect(found.code, 'a canary file was created on the host').toBe(1);
}

function tally(scenario: string) {
  const row = { scenario, runs: 0, survived: 0, lost: 0 };
  rows.push(row);
  return {
    async run(body: () => Promise<void>) {
      row.runs++;
      try {
        await body();
        row.survived++;
      } catch (error) {
        row.lost++;
        throw error;
      }
    },
  };
}

// argv cannot carry NUL (execve); NUL values are covered through the SSH layer and unit tests.
const secretValue = hostileString(CANARY).filter((v) => v.length > 0);
const envKey = fc
  .stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,30}$/)
  .filter((k) => !/^(PORT|HOST|HOME|TOSS_.*)$/.test(k));

describe('full deploys with hostile input', () => {
  it(`secret values via -s: ${CASES} deploys, stored and seen byte for byte, never printed`, async () => {
    const t = tally('hostile secret values via -s (full deploy)');
    const cases = fc.sample(fc.tuple(envKey, secretValue), { numRuns: CASES, seed: 7 });
    let rejected = 0;
    for (const [key, value] of cases) {
      await t.run(async () => {
        const logins = await sshLogins(host);
        const run = await toss(host, ['deploy', 'production', '-s', `${key}=${value}`], {
          cwd: app.dir,
        });
        if (envValueProblem(value) !== undefined) {
          // A noncharacter systemd would refuse to start the unit with: rejected up front.
          rejected++;
          expect(run.code, run.output).toBe(1);
          expect(run.stderr).toContain(`-s ${key}: the value contains U+`);
          expect(await sshLogins(host), 'rejected after logging in').toBe(logins);
          return;
        }
        expect(run.code, run.output).toBe(0);
        // Never echoed: no line of the output carries the value (short values may occur by chance).
        if (value.trim().length >= 6) expect(run.output).not.toContain(value);
        const release = releaseOf(run)!;
        const envFile = await inHost(host, ['cat', `/srv/${APP}/production/env/${release}.env`]);
        expect(parseEnvFile(envFile).get(key)).toBe(value);
        const overrides = await inHost(host, [
          'cat',
          `/srv/${APP}/.toss/secrets/overrides/production.env`,
        ]);
        expect(parseEnvFile(overrides).get(key)).toBe(value);
        // The running app (systemd read the env file) sees exactly the value.
        const seen = await fetchSite(
          host,
          sslipName(host, APP, 'production'),
          `/env/${encodeURIComponent(key)}`,
        );
        expect(seen).toEqual({ status: 200, body: value });
        // state.json never holds it.
        const state = await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]);
        if (value.trim().length >= 6) expect(state).not.toContain(value);
        await noCanary();
      });
    }
    console.log(
      `RELIABILITY | secret values: ${CASES - rejected} deployed, ${rejected} rejected (noncharacters)`,
    );
  }, 600_000);

  it(`-s pairs with hostile keys: ${CASES} runs rejected before connecting, exit 1`, async () => {
    const t = tally('hostile -s keys (CLI run, rejected)');
    const keys = fc.sample(
      hostileString(CANARY).filter(
        (k) => k.length > 0 && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k.split('=')[0]!),
      ),
      { numRuns: CASES, seed: 8 },
    );
    const logins = await sshLogins(host);
    for (const key of keys) {
      await t.run(async () => {
        const run = await toss(host, ['deploy', 'production', '-s', `${key}=x`], { cwd: app.dir });
        expect([1, 2], run.output).toContain(run.code);
        expect(run.stderr).toContain('expected KEY=VALUE (KEY= removes it)');
      });
    }
    expect(await sshLogins(host), 'a rejected run logged in').toBe(logins);
    await noCanary();
  }, 600_000);

  it(`hostile environment names: ${CASES} runs rejected before connecting, exit 1`, async () => {
    const t = tally('hostile environment names (CLI run, rejected)');
    const names = fc.sample(
      hostileString(CANARY).filter((n) => n.length > 0 && !n.startsWith('-')),
      { numRuns: CASES, seed: 9 },
    );
    const logins = await sshLogins(host);
    for (const name of names) {
      await t.run(async () => {
        const run = await toss(host, ['deploy', name], { cwd: app.dir });
        expect([1, 2], run.output).toContain(run.code);
        expect(run.stderr).toContain('environment: expected an environment name');
        expect(run.stderr.length).toBeLessThan(2000);
      });
    }
    expect(await sshLogins(host)).toBe(logins);
    await noCanary();
  }, 600_000);

  it(`hostile toss.json string fields: ${CASES} runs, rejected naming the field or deployed harmlessly`, async () => {
    const t = tally('hostile toss.json fields (CLI run)');
    const fields: Array<[string, (v: string) => Record<string, unknown>]> = [
      ['healthCheck.path', (v) => ({ healthCheck: { path: `/${v}`, timeout: 20 } })],
      ['exclude[0]', (v) => ({ exclude: [v] })],
      ['persistentDirs[0]', (v) => ({ persistentDirs: ['data', v] })],
      ['domain', (v) => ({ domain: v })],
      [
        'previewAuth.user',
        (v) => ({
          previewAuth: { user: v, passwordHash: `$2a$14$${'a'.repeat(21)}e${'a'.repeat(31)}` },
        }),
      ],
      ['app', (v) => ({ app: v })],
      ['root', (v) => ({ root: v })],
      ['server', (v) => ({ server: v })],
    ];
    const cases = fc.sample(fc.tuple(fc.nat({ max: fields.length - 1 }), hostileString(CANARY)), {
      numRuns: CASES,
      seed: 10,
    });
    let deployed = 0;
    for (const [index, value] of cases) {
      const [field, make] = fields[index]!;
      await t.run(async () => {
        const logins = await sshLogins(host);
        // The whole file, so no earlier case's field lingers.
        writeFileSync(
          join(app.dir, 'toss.json'),
          JSON.stringify({ ...baseConfig, ...make(value) }),
        );
        const run = await toss(host, ['deploy', 'production'], { cwd: app.dir });
        if (run.code === 0) {
          deployed++;
          expect((await readStateOn(host, APP)).lock).toBeNull();
          expect((await fetchSite(host, sslipName(host, APP, 'production'))).status).toBe(200);
        } else {
          expect([1, 2], `${field}=${JSON.stringify(value)}\n${run.output}`).toContain(run.code);
          expect(run.stderr).toContain(`toss.json: ${field.replace(/\[0\]$/, '')}`);
          expect(await sshLogins(host), 'rejected after logging in').toBe(logins);
        }
        await noCanary();
      });
    }
    writeFileSync(join(app.dir, 'toss.json'), JSON.stringify(baseConfig));
    console.log(
      `RELIABILITY | toss.json hostile fields: ${deployed} deployed, ${CASES - deployed} rejected before connecting`,
    );
  }, 600_000);
});
