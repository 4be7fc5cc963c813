/**
 * installUnitArgv's script against a fake systemctl: unit files written only when they change,
 * and a daemon-reload (which re-reads every unit on the server) only when systemd could hold a
 * stale copy: an existing file changed, or a unit of the environment is still loaded.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installUnitArgv } from '../../src/server/instances.js';
import { envPaths } from '../../src/server/paths.js';

const PREVIEW = envPaths('shop', 'pr-2');
const WAKE = { socket: '[Socket]\n', service: '[Service]\n' };
const UNIT = '[Service]\nExecStart=/bin/true\n';
const owner = `${process.getuid?.() === 0 ? 'root:root' : ''}`;

/** Runs the install in a temporary unit directory; `fake` is the fake systemctl's body. */
function install(fake: string, setup: (dir: string) => void = () => {}) {
  const dir = mkdtempSync(join(tmpdir(), 'toss-install-units-'));
  const bin = mkdtempSync(join(tmpdir(), 'toss-install-bin-'));
  const log = join(bin, 'calls');
  writeFileSync(log, '');
  writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "$*" >> "${log}"\n${fake}\n`, {
    mode: 0o755,
  });
  setup(dir);
  const argv = installUnitArgv(PREVIEW, WAKE).map((a) =>
    a.replace('/etc/systemd/system/', `${dir}/`),
  );
  const run = spawnSync(argv[0]!, argv.slice(1), {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    input: UNIT,
    encoding: 'utf8',
  });
  return {
    status: run.status,
    stderr: run.stderr,
    calls: readFileSync(log, 'utf8').split('\n').filter(Boolean),
    read: (name: string) => readFileSync(join(dir, name), 'utf8'),
  };
}

const LISTED =
  'list-units --all --plain --no-legend --full -- toss-shop-pr-2@* toss-wake-shop-pr-2@*';

describe.runIf(owner !== '')('installUnitArgv', () => {
  it("writes a new environment's files without a reload when none of its units is loaded", () => {
    const run = install('exit 0');
    expect(run.status, run.stderr).toBe(0);
    expect(run.read('toss-shop-pr-2@.service')).toBe(UNIT);
    expect(run.read('toss-wake-shop-pr-2@.socket')).toBe(WAKE.socket);
    expect(run.calls).toEqual([LISTED]);
  });

  it('reloads for new files when a unit of the environment is still loaded', () => {
    const run = install(
      'case "$1" in list-units) echo "toss-shop-pr-2@3002.service loaded inactive dead";; esac',
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.calls).toEqual([LISTED, 'daemon-reload']);
  });

  it('reloads when systemd cannot say what is loaded', () => {
    const run = install('case "$1" in list-units) exit 1;; esac');
    expect(run.calls).toEqual([LISTED, 'daemon-reload']);
  });

  it('reloads, without asking, when a file that was there changed', () => {
    const run = install('exit 0', (dir) => {
      writeFileSync(join(dir, 'toss-shop-pr-2@.service'), '[Service]\nExecStart=/bin/false\n');
      writeFileSync(join(dir, 'toss-wake-shop-pr-2@.socket'), WAKE.socket);
      writeFileSync(join(dir, 'toss-wake-shop-pr-2@.service'), WAKE.service);
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.read('toss-shop-pr-2@.service')).toBe(UNIT);
    expect(run.calls).toEqual(['daemon-reload']);
  });

  it('reloads when a wake template that was there changed', () => {
    const run = install('exit 0', (dir) => {
      writeFileSync(join(dir, 'toss-wake-shop-pr-2@.socket'), '[Socket]\nold\n');
    });
    expect(run.calls).toEqual(['daemon-reload']);
  });
});
