/** Starting systemd-nspawn detached, finding the host's PID 1, and running commands inside it. */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { CgroupPlan } from './cgroups.js';
import { type RunResult, run } from './proc.js';

// Moves this shell into each cgroup named by "$@" (count first), then becomes the command that follows.
const ENTER_CGROUPS =
  'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ >"$1"; shift; n=$((n - 1)); done; exec "$@"';

export interface NspawnOptions {
  name: string;
  merged: string;
  netns: string;
  cgroups: CgroupPlan;
  logPath: string;
}

/** Returns nspawn's PID; it runs in its own session so Ctrl-C reaches us, not the host. */
export function startNspawn(o: NspawnOptions): number {
  const nspawn = [
    'systemd-nspawn',
    '--boot',
    '--register=no',
    ...(o.cgroups.keepUnit ? ['--keep-unit'] : []),
    '--console=passive',
    `--network-namespace-path=/run/netns/${o.netns}`,
    '-D',
    o.merged,
    '-M',
    o.name,
    ...o.cgroups.nspawnArgs,
  ];
  const procs = o.cgroups.dirs.map((d) => `${d}/cgroup.procs`);
  const argv = ['sh', '-c', ENTER_CGROUPS, 'sh', String(procs.length), ...procs, ...nspawn];
  const log = openSync(o.logPath, 'a');
  try {
    const child = spawn(argv[0] as string, argv.slice(1), {
      detached: true,
      stdio: ['ignore', log, log],
    });
    child.on('error', () => {});
    child.unref();
    if (child.pid === undefined) throw new Error('could not start systemd-nspawn');
    return child.pid;
  } finally {
    closeSync(log);
  }
}

function children(pid: number): number[] {
  try {
    const out: number[] = [];
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (list) out.push(...list.split(' ').map(Number));
    }
    return out;
  } catch {
    // Kernels without CONFIG_PROC_CHILDREN: find them by parent PID instead.
    return readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .filter((e) => {
        try {
          const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
        } catch {
          return false;
        }
      })
      .map(Number);
  }
}

/** The host's PID 1: a child of nspawn in another PID namespace that has exec'd systemd. */
export function findInit(nspawnPid: number): number | undefined {
  const ownNs = readlinkSync('/proc/self/ns/pid');
  for (const pid of children(nspawnPid)) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/pid`) === ownNs) continue;
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd') return pid;
    } catch {
      // raced with an exit
    }
  }
  return undefined;
}

const GUEST_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  USER: 'root',
  LOGNAME: 'root',
  LANG: 'C.UTF-8',
};

/** Run argv as root inside the host through its namespaces (no SSH, no shell). */
export function execInHost(
  initPid: number,
  argv: readonly string[],
  options: { input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  if (argv.length === 0) throw new Error('exec: empty argv');
  return run(['nsenter', `--target=${initPid}`, '--all', '--', ...argv], {
    env: GUEST_ENV,
    input: options.input,
    timeoutMs: options.timeoutMs,
  });
}
