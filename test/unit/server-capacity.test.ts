import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tossConfigSchema } from '../../src/config/schema.js';
import { TossError } from '../../src/errors.js';
import { assertMemoryForPreview, previewNeed } from '../../src/pipeline/capacity-check.js';
import type { Server } from '../../src/pipeline/server.js';
import {
  awakePreviews,
  type CapacityCheck,
  capacityProblem,
  formatBytes,
  memoryArgv,
  parseMemory,
  sizeBytes,
} from '../../src/server/capacity.js';
import { envPaths } from '../../src/server/paths.js';
import { emptyRegistry, type Registry } from '../../src/server/registry.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const MEMINFO = 'meminfo MemTotal 2000000\nmeminfo MemAvailable 1500000\n';

describe('parseMemory', () => {
  it('uses MemAvailable when there is no cgroup limit (v1 "unlimited")', () => {
    const memory = parseMemory(`${MEMINFO}cgroup v1 9223372036854771712 400000000 1000 /\n`);
    expect(memory.availableBytes).toBe(1_500_000 * 1024);
    expect(memory.source).toBe('MemAvailable in /proc/meminfo');
    expect(memory.totalBytes).toBe(2_000_000 * 1024);
    expect(memory.cgroups).toEqual([
      {
        version: 'v1',
        path: '/',
        limitBytes: undefined,
        usageBytes: 400_000_000,
        inactiveFileBytes: 1000,
      },
    ]);
  });

  it('uses MemAvailable when the v2 limit is "max"', () => {
    const memory = parseMemory(`${MEMINFO}cgroup v2 max 300000000 0 /init.scope\n`);
    expect(memory.availableBytes).toBe(1_500_000 * 1024);
    expect(memory.cgroups[0]?.limitBytes).toBeUndefined();
  });

  it('uses MemAvailable alone where no cgroup was printed', () => {
    expect(parseMemory(MEMINFO)).toMatchObject({
      availableBytes: 1_500_000 * 1024,
      cgroups: [],
      units: [],
    });
  });

  it('takes a v1 limit minus usage, the inactive file cache given back', () => {
    const memory = parseMemory(`${MEMINFO}cgroup v1 ${GiB} ${600 * MiB} ${100 * MiB} /\n`);
    expect(memory.availableBytes).toBe(GiB - 500 * MiB);
    expect(memory.source).toBe(
      "the memory limit of the server's cgroup (v1 /): 1.0 GiB, 500 MiB in use",
    );
    expect(memory.memAvailableBytes).toBe(1_500_000 * 1024);
  });

  it('takes a v2 limit minus usage', () => {
    const memory = parseMemory(`${MEMINFO}cgroup v2 ${2 * GiB} ${GiB} 0 /lxc.payload.web\n`);
    expect(memory.availableBytes).toBe(GiB);
    expect(memory.source).toContain('(v2 /lxc.payload.web)');
  });

  it('takes the tightest of the cgroup and its ancestors', () => {
    const memory = parseMemory(
      `${MEMINFO}cgroup v2 max ${200 * MiB} 0 /machine.slice/web.scope\n` +
        `cgroup v2 ${GiB} ${900 * MiB} 0 /machine.slice\n`,
    );
    expect(memory.availableBytes).toBe(124 * MiB);
    expect(memory.source).toContain('(v2 /machine.slice)');
  });

  it('keeps MemAvailable when it is smaller than the cgroup headroom', () => {
    const memory = parseMemory(`${MEMINFO}cgroup v1 ${64 * GiB} ${GiB} 0 /\n`);
    expect(memory.availableBytes).toBe(1_500_000 * 1024);
    expect(memory.source).toBe('MemAvailable in /proc/meminfo');
  });

  it('never goes below zero when usage is over the limit', () => {
    expect(parseMemory(`${MEMINFO}cgroup v1 ${GiB} ${2 * GiB} 0 /\n`).availableBytes).toBe(0);
  });

  it('reads the toss units, most memory first', () => {
    const memory = parseMemory(
      `${MEMINFO}unit toss-shop-pr-1@3002.service 1000\nunit toss-shop-production@3000.service 90000\n`,
    );
    expect(memory.units).toEqual([
      { unit: 'toss-shop-production@3000.service', bytes: 90_000 * 1024 },
      { unit: 'toss-shop-pr-1@3002.service', bytes: 1000 * 1024 },
    ]);
  });

  it('refuses output without MemAvailable, and figures that are not numbers', () => {
    expect(() => parseMemory('meminfo MemTotal 1\n')).toThrow(/MemAvailable/);
    expect(() => parseMemory(`${MEMINFO}cgroup v1 lots 1 0 /\n`)).toThrow(/memory figure/);
  });

  it('parses what the script prints on this machine', () => {
    const [command, ...args] = memoryArgv();
    const out = spawnSync(command as string, args, { encoding: 'utf8' });
    expect(out.status).toBe(0);
    const memory = parseMemory(out.stdout);
    const memAvailable = Number(
      /MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1],
    );
    expect(memory.availableBytes).toBeGreaterThan(0);
    expect(memory.availableBytes).toBeLessThanOrEqual(memory.memAvailableBytes);
    // The two reads are moments apart: within 10% of each other.
    expect(Math.abs(memory.memAvailableBytes - memAvailable * 1024)).toBeLessThan(
      memAvailable * 1024 * 0.1,
    );
  });
});

describe('sizeBytes', () => {
  it.each([
    ['256M', 256 * MiB],
    ['1G', GiB],
    ['0', 0],
    ['512K', 512 * 1024],
    ['2T', 2 * 1024 * GiB],
    ['1000', 1000],
  ])('%s is %d bytes', (text, expected) => {
    expect(sizeBytes(text)).toBe(expected);
  });

  it('sizes a percentage of the total, and infinity as nothing', () => {
    expect(sizeBytes('25%', 4 * GiB)).toBe(GiB);
    expect(sizeBytes('infinity')).toBeUndefined();
    expect(() => sizeBytes('25%')).toThrow(/total/);
    expect(() => sizeBytes('1GB')).toThrow(/invalid size/);
  });

  it('formats bytes for people', () => {
    expect(formatBytes(1.5 * GiB)).toBe('1.5 GiB');
    expect(formatBytes(300 * MiB)).toBe('300 MiB');
    expect(formatBytes(2048)).toBe('2 KiB');
  });
});

function registryOf(
  entries: Array<[app: string, environment: string, ports: [number, number]]>,
): Registry {
  const registry = emptyRegistry();
  for (const [app, environment, ports] of entries) {
    const p = envPaths(app, environment);
    registry.apps[app] ??= { environments: {} };
    (registry.apps[app] as Registry['apps'][string]).environments[environment] = {
      ports,
      hostNames: [],
      units: [p.unitTemplate, p.runUnit, p.siteFile],
    };
  }
  return registry;
}

describe('awakePreviews', () => {
  // `shop`/`api-x` and `shop-api`/`x` share unit names: the port tells them apart.
  const registry = registryOf([
    ['shop', 'production', [3000, 3001]],
    ['shop', 'pr-1', [3002, 3003]],
    ['shop', 'api-x', [3004, 3005]],
    ['shop-api', 'x', [3006, 3007]],
  ]);

  it('sums each preview of every app, leaves production and unknown units out', () => {
    const awake = awakePreviews(
      [
        { unit: 'toss-shop-production@3000.service', bytes: 900 },
        { unit: 'toss-shop-pr-1@3002.service', bytes: 100 },
        { unit: 'toss-shop-pr-1@3003.service', bytes: 50 },
        { unit: 'toss-run-shop-pr-1.service', bytes: 25 },
        { unit: 'toss-shop-api-x@3006.service', bytes: 300 },
        { unit: 'toss-shop-api-x@3004.service', bytes: 10 },
        { unit: 'toss-other-pr-9@4000.service', bytes: 5000 },
      ],
      registry,
    );
    expect(awake).toEqual([
      { app: 'shop-api', environment: 'x', bytes: 300 },
      { app: 'shop', environment: 'pr-1', bytes: 175 },
      { app: 'shop', environment: 'api-x', bytes: 10 },
    ]);
  });
});

describe('capacityProblem', () => {
  const check: CapacityCheck = {
    environment: 'pr-12',
    available: GiB,
    floor: 256 * MiB,
    need: 512 * MiB,
    awake: [],
  };

  it('lets the preview start when the floor stays', () => {
    expect(capacityProblem(check)).toBeUndefined();
    expect(capacityProblem({ ...check, available: 768 * MiB })).toBeUndefined();
  });

  it('never refuses without a floor', () => {
    expect(capacityProblem({ ...check, available: 0, floor: 0 })).toBeUndefined();
  });

  it('refuses below the floor, saying what is available, the floor, the limit and who uses most', () => {
    const awake = [1, 2, 3, 4, 5, 6, 7].map((n) => ({
      app: 'shop',
      environment: `pr-${n}`,
      bytes: (200 - n) * MiB,
    }));
    const problem = capacityProblem({
      ...check,
      available: 700 * MiB,
      awake,
      source: 'MemAvailable in /proc/meminfo',
    });
    expect(problem).toBeInstanceOf(TossError);
    expect(problem?.message).toBe(
      'not enough memory to start pr-12: the server has 700 MiB available (MemAvailable in /proc/meminfo), the preview may use up to 512 MiB (its memory limit), and 256 MiB is kept for production (previews.memoryFloor); previews running now, most memory first: shop pr-1 (199 MiB), shop pr-2 (198 MiB), shop pr-3 (197 MiB), shop pr-4 (196 MiB), shop pr-5 (195 MiB), and 2 more',
    );
    expect(problem?.hint).toMatch(/toss remove <environment>/);
    expect(problem?.hint).toMatch(/previews\.memoryFloor/);
  });

  it('says so when no preview runs', () => {
    expect(capacityProblem({ ...check, available: 100 * MiB })?.message).toMatch(
      /; no preview is running now$/,
    );
  });
});

describe('assertMemoryForPreview', () => {
  const config = (fields: Record<string, unknown> = {}) =>
    tossConfigSchema.parse({
      app: 'shop',
      server: 'root@203.0.113.10',
      startCommand: 'node server.js',
      ...fields,
    });
  const registry = registryOf([['shop', 'pr-3', [3002, 3003]]]);

  /** Answers memoryArgv with `stdout` and counts the calls. */
  function serverWith(stdout: string): { server: Server; calls: string[][] } {
    const calls: string[][] = [];
    const server = {
      root: async (argv: readonly string[]) => {
        calls.push([...argv]);
        return { code: 0, stdout, stderr: '' };
      },
      readRegistry: async () => registry,
    } as unknown as Server;
    return { server, calls };
  }

  const tight = `meminfo MemTotal 4000000\nmeminfo MemAvailable 3000000\ncgroup v1 ${GiB} ${400 * MiB} 0 /\nunit toss-shop-pr-3@3002.service 204800\n`;

  it("refuses a preview that would take production's floor, naming the previews awake", async () => {
    const { server } = serverWith(tight);
    await expect(
      assertMemoryForPreview(server, config(), envPaths('shop', 'pr-9')),
    ).rejects.toThrow(
      /has 624 MiB available .*may use up to 512 MiB .*256 MiB is kept .*shop pr-3 \(200 MiB\)/,
    );
  });

  it('never checks production, a static site, or a floor of "0"', async () => {
    const { server, calls } = serverWith(tight);
    await assertMemoryForPreview(server, config(), envPaths('shop', 'production'));
    await assertMemoryForPreview(
      server,
      config({ startCommand: undefined, static: 'dist' }),
      envPaths('shop', 'pr-9'),
    );
    await assertMemoryForPreview(
      server,
      config({ previews: { memoryFloor: '0' } }),
      envPaths('shop', 'pr-9'),
    );
    expect(calls).toEqual([]);
  });

  it("lets the preview start with a smaller limit from production's policy", async () => {
    const { server, calls } = serverWith(tight);
    await assertMemoryForPreview(
      server,
      config({ resources: { previews: { memory: '256M' } } }),
      envPaths('shop', 'pr-9'),
    );
    expect(calls).toEqual([memoryArgv()]);
  });

  it("needs the preview's memory limit, or the default one", () => {
    const pr = envPaths('shop', 'pr-9');
    expect(previewNeed(config(), pr)).toBe(512 * MiB);
    expect(previewNeed(config({ resources: { memory: '1G' } }), pr)).toBe(GiB);
    expect(previewNeed(config({ resources: { previews: { memory: '25%' } } }), pr, 4 * GiB)).toBe(
      GiB,
    );
    expect(previewNeed(config({ resources: { memory: 'infinity' } }), pr)).toBe(512 * MiB);
  });
});
