import { describe, expect, it } from 'vitest';
import { envPaths } from '../../src/server/paths.js';
import {
  buildWakeUnits,
  countIdleArgv,
  listenWakeArgv,
  SLEEP_AGAIN_IN_USE,
  SLEEP_AGAIN_QUIET_MS,
  sleepIfQuietArgv,
  sleepNowArgv,
  stopWakeSocketArgv,
  wakeSocketPath,
} from '../../src/server/wake.js';

const preview = envPaths('shop', 'pr-7');
const production = envPaths('shop', 'production');
const params = { sleepSeconds: 900, startSeconds: 30 };

const lines = (text: string) => text.split('\n');
const setting = (text: string, key: string) =>
  lines(text).filter((line) => line.startsWith(`${key}=`));

describe('buildWakeUnits', () => {
  it('writes the same bytes for the same inputs', () => {
    expect(buildWakeUnits(preview, params)).toEqual(buildWakeUnits(preview, params));
  });

  it('holds a socket per port that only root and Caddy may connect to', () => {
    const { socket } = buildWakeUnits(preview, params);
    expect(setting(socket, 'ListenStream')).toEqual(['ListenStream=/run/toss-wake/%i.sock']);
    expect(setting(socket, 'SocketUser')).toEqual(['SocketUser=root']);
    expect(setting(socket, 'SocketGroup')).toEqual(['SocketGroup=caddy']);
    expect(setting(socket, 'SocketMode')).toEqual(['SocketMode=0660']);
    expect(setting(socket, 'Service')).toEqual([
      `Service=${preview.wakeServiceTemplate.replace('@.service', '@%i.service')}`,
    ]);
  });

  it('starts the instance and waits for its listener before the proxy, which exits when idle', () => {
    const { service } = buildWakeUnits(preview, params);
    const instance = preview.instanceUnit(1).replace('@1.service', '@%i.service');
    const [pre] = setting(service, 'ExecStartPre');
    expect(pre).toMatch(/^ExecStartPre=\+\/bin\/sh -c "/);
    // A preview's wake takes the wake lock (last argument 1); production's never waits for it.
    expect(pre?.endsWith(`" sh ${instance} %i 30 1`)).toBe(true);
    const [prodPre] = setting(buildWakeUnits(production, params).service, 'ExecStartPre');
    expect(prodPre?.endsWith(' %i 30 0')).toBe(true);
    expect(pre).toContain('flock -w 10 9');
    expect(setting(service, 'ExecStart')).toEqual([
      'ExecStart=/lib/systemd/systemd-socket-proxyd --exit-idle-time=900s 127.0.0.1:%i',
    ]);
    expect(setting(service, 'ExecStopPost')).toEqual([
      `ExecStopPost=+/bin/systemctl stop --no-block -- ${instance}`,
    ]);
    expect(setting(service, 'StartLimitIntervalSec')).toEqual(['StartLimitIntervalSec=0']);
    expect(setting(service, 'DynamicUser')).toEqual(['DynamicUser=yes']);
  });

  it("yields a preview's wake to production, scheduler group and all; production's keeps 0", () => {
    const woken = buildWakeUnits(preview, params).service;
    expect(setting(woken, 'Nice')).toEqual(['Nice=10']);
    expect(setting(woken, 'ExecStartPre')[0]).toContain('echo 10 >/proc/self/autogroup');
    const prod = buildWakeUnits(production, params).service;
    expect(setting(prod, 'Nice')).toEqual([]);
    expect(prod).not.toContain('autogroup');
  });

  it('refuses times that are not whole seconds in range', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 100 * 86_400 + 1]) {
      expect(() => buildWakeUnits(preview, { ...params, sleepSeconds: bad })).toThrow(
        /sleepSeconds/,
      );
      expect(() => buildWakeUnits(preview, { ...params, startSeconds: bad })).toThrow(
        /startSeconds/,
      );
    }
  });
});

describe('wake commands', () => {
  it('names units and sockets by port only', () => {
    expect(wakeSocketPath(4012)).toBe('/run/toss-wake/4012.sock');
    expect(() => wakeSocketPath(0)).toThrow();
    expect(() => wakeSocketPath(70_000)).toThrow();
    expect(listenWakeArgv(preview, 4012)).toEqual([
      'systemctl',
      'start',
      '--',
      preview.wakeSocketUnit(4012),
    ]);
    expect(stopWakeSocketArgv(preview, 4012)).toEqual([
      'systemctl',
      'stop',
      '--',
      preview.wakeSocketUnit(4012),
    ]);
    expect(sleepNowArgv(preview, 4012)).toEqual([
      'systemctl',
      'stop',
      '--',
      preview.wakeServiceUnit(4012),
      preview.instanceUnit(4012),
    ]);
    // At a deploy's end: asleep again unless requests are being served through it.
    const again = sleepIfQuietArgv(preview, 4012);
    expect(again.slice(0, 2)).toEqual(['bash', '-c']);
    expect(again.slice(3)).toEqual([
      'bash',
      '4012',
      String(SLEEP_AGAIN_QUIET_MS),
      ...sleepNowArgv(preview, 4012),
    ]);
    expect(again[2]).toContain(`echo "${SLEEP_AGAIN_IN_USE}"`);
    expect(again[2]).toMatch(/exec "\$@"$/);
    expect(countIdleArgv(preview, 4012)).toEqual([
      'systemctl',
      'start',
      '--',
      preview.wakeServiceUnit(4012),
    ]);
  });
});
