/**
 * teardownUnitsArgv: what `toss remove` runs to leave no unit of an environment behind, checked
 * by its arguments and by running its script against a fake systemctl that logs every call.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envPaths } from '../../src/server/paths.js';
import { instanceSlice, teardownUnitsArgv } from '../../src/server/systemctl.js';

const PREVIEW = envPaths('shop', 'pr-2');
const TEMPLATE_FILE = '/etc/systemd/system/toss-shop-pr-2@.service';

/**
 * Runs the teardown with a fake systemctl first on PATH and the template at a temporary path;
 * `fake` is the body of the fake systemctl (its arguments in "$@"). Returns the exit status, the
 * calls systemctl received, and whether the template is still there.
 */
function runTeardown(ports: number[], fake: string) {
  const dir = mkdtempSync(join(tmpdir(), 'toss-teardown-'));
  const log = join(dir, 'calls');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'systemctl'), `#!/bin/sh\necho "$*" >> "${log}"\n${fake}\n`, {
    mode: 0o755,
  });
  const template = join(dir, 'toss-shop-pr-2@.service');
  writeFileSync(template, '[Unit]\n');
  const argv = teardownUnitsArgv(PREVIEW, ports).map((arg) =>
    arg === TEMPLATE_FILE ? template : arg,
  );
  const run = spawnSync(argv[0]!, argv.slice(1), {
    env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
    encoding: 'utf8',
  });
  return {
    status: run.status,
    calls: readFileSync(log, 'utf8').split('\n').filter(Boolean),
    templateLeft: existsSync(template),
  };
}

// Stopped in two calls (drains and wake units first) and reset in one; boot links deleted only for a unit
// linked in a directory of /etc/systemd/system (an enabled instance or wake socket), and none is
// where these tests run.
const FIRST_3002 =
  'toss-drain-shop-pr-2-3002.timer toss-drain-shop-pr-2-3002.service toss-wake-shop-pr-2@3002.socket toss-wake-shop-pr-2@3002.service';
const LATER_3002 =
  'toss-shop-pr-2@3002.service toss-run-shop-pr-2.service system-toss\\x2dwake\\x2dshop\\x2dpr\\x2d2.slice';

describe('instanceSlice', () => {
  it("names the slice systemd makes for the template's instances, dashes escaped", () => {
    expect(instanceSlice(PREVIEW)).toBe('system-toss\\x2dshop\\x2dpr\\x2d2.slice');
    expect(instanceSlice(envPaths('a-b', 'production'))).toBe(
      'system-toss\\x2da\\x2db\\x2dproduction.slice',
    );
  });
});

describe('teardownUnitsArgv', () => {
  it('passes every name as an argument: slice, templates, drains, wake units, instances, long step', () => {
    const argv = teardownUnitsArgv(PREVIEW, [3002, 3003]);
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(3)).toEqual([
      'sh',
      'system-toss\\x2dshop\\x2dpr\\x2d2.slice',
      TEMPLATE_FILE,
      '/etc/systemd/system/toss-wake-shop-pr-2@.socket',
      '/etc/systemd/system/toss-wake-shop-pr-2@.service',
      '--',
      'toss-drain-shop-pr-2-3002.timer',
      'toss-drain-shop-pr-2-3002.service',
      'toss-drain-shop-pr-2-3003.timer',
      'toss-drain-shop-pr-2-3003.service',
      'toss-wake-shop-pr-2@3002.socket',
      'toss-wake-shop-pr-2@3002.service',
      'toss-wake-shop-pr-2@3003.socket',
      'toss-wake-shop-pr-2@3003.service',
      '--',
      'toss-shop-pr-2@3002.service',
      'toss-shop-pr-2@3003.service',
      'toss-run-shop-pr-2.service',
      'system-toss\\x2dwake\\x2dshop\\x2dpr\\x2d2.slice',
    ]);
    expect(argv[2]).not.toContain('shop');
  });

  it('puts the instances among the units stopped last by what they are, not by their names (an app named wake)', () => {
    const argv = teardownUnitsArgv(envPaths('wake', 'pr-2'), [3002]);
    const units = argv.slice(argv.indexOf('--') + 1);
    const first = units.slice(0, units.indexOf('--'));
    const later = units.slice(units.indexOf('--') + 1);
    expect(first).toEqual([
      'toss-drain-wake-pr-2-3002.timer',
      'toss-drain-wake-pr-2-3002.service',
      'toss-wake-wake-pr-2@3002.socket',
      'toss-wake-wake-pr-2@3002.service',
    ]);
    expect(later).toContain('toss-wake-pr-2@3002.service');
  });

  const LISTED =
    'list-units --all --plain --no-legend --full -- toss-drain-shop-pr-2-3002.timer toss-drain-shop-pr-2-3002.service toss-wake-shop-pr-2@3002.socket toss-wake-shop-pr-2@3002.service toss-shop-pr-2@3002.service toss-run-shop-pr-2.service system-toss\\x2dwake\\x2dshop\\x2dpr\\x2d2.slice toss-shop-pr-2@* toss-wake-shop-pr-2@* toss-wake-shop-pr-2@*';

  it('stops and resets the units in three calls (drains and wake units first), deletes the template, and without a reload when nothing is left loaded stops the slice', () => {
    const run = runTeardown([3002], 'exit 0');
    expect(run.status).toBe(0);
    expect(run.calls).toEqual([
      `stop -- ${FIRST_3002}`,
      `stop -- ${LATER_3002}`,
      `reset-failed -- ${FIRST_3002} ${LATER_3002}`,
      LISTED,
      'stop -- system-toss\\x2dshop\\x2dpr\\x2d2.slice',
      'reset-failed -- system-toss\\x2dshop\\x2dpr\\x2d2.slice',
    ]);
    expect(run.templateLeft).toBe(false);
  });

  it('reloads when a unit of the environment is still loaded (a boot link systemd read), before the slice', () => {
    const run = runTeardown(
      [3002],
      'case "$1" in list-units) echo "toss-shop-pr-2@3002.service not-found inactive dead";; esac\nexit 0',
    );
    expect(run.status).toBe(0);
    expect(run.calls.slice(-4)).toEqual([
      LISTED,
      'daemon-reload',
      'stop -- system-toss\\x2dshop\\x2dpr\\x2d2.slice',
      'reset-failed -- system-toss\\x2dshop\\x2dpr\\x2d2.slice',
    ]);
  });

  it('reloads when systemd cannot say what is loaded', () => {
    const run = runTeardown([3002], 'case "$1" in list-units) exit 1;; esac\nexit 0');
    expect(run.status).toBe(0);
    expect(run.calls).toContain('daemon-reload');
  });

  it('never expands its unit patterns against files where it runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'toss-teardown-cwd-'));
    writeFileSync(join(dir, 'toss-wake-shop-pr-2@x'), '');
    const argv = teardownUnitsArgv(PREVIEW, [3002]);
    const fake = mkdtempSync(join(tmpdir(), 'toss-teardown-bin-'));
    const log = join(fake, 'calls');
    writeFileSync(join(fake, 'systemctl'), `#!/bin/sh\necho "$*" >> "${log}"\n`, { mode: 0o755 });
    spawnSync(
      argv[0]!,
      argv.slice(1).map((a) => (a === TEMPLATE_FILE ? join(fake, 'gone@.service') : a)),
      {
        cwd: dir,
        env: { ...process.env, PATH: `${fake}:${process.env.PATH}` },
      },
    );
    const listed = readFileSync(log, 'utf8')
      .split('\n')
      .find((c) => c.startsWith('list-units'));
    expect(listed).toContain(' toss-wake-shop-pr-2@*');
    expect(listed).not.toContain('toss-wake-shop-pr-2@x');
  });

  it('goes on past units that are gone (systemctl failing for each) and still succeeds', () => {
    const run = runTeardown([3002, 3003], 'case "$1" in daemon-reload) exit 0;; esac\nexit 5');
    expect(run.status).toBe(0);
    // Drains and wake units of both ports, then both instances, the long step and the wake
    // proxies' old slice, then (list-units failed, so after a reload) the instances' slice.
    const stops = run.calls.filter((call) => call.startsWith('stop -- '));
    expect(stops).toHaveLength(3);
    expect(stops[0]?.split(' ')).toHaveLength(2 + 8);
    expect(stops[1]?.split(' ')).toHaveLength(2 + 4);
    expect(run.calls).toContainEqual(expect.stringMatching(/^reset-failed -- (\S+ ){11}\S+$/));
    expect(run.calls.indexOf('daemon-reload')).toBe(run.calls.indexOf(stops.at(-1)!) - 1);
    expect(run.templateLeft).toBe(false);
  });

  it('fails when systemd cannot reload, leaving the slice alone', () => {
    const run = runTeardown(
      [3002],
      'case "$1" in list-units) echo loaded;; daemon-reload) exit 1;; esac\nexit 0',
    );
    expect(run.status).toBe(1);
    expect(run.calls.at(-1)).toBe('daemon-reload');
  });
});
