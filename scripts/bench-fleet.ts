/**
 * Production on three servers against one (issue 19): the same 2,000-file app deployed by the
 * real CLI to one test host, and to three test hosts behind the first one's Caddy (a front over
 * the harness's private network), alternating, medians of `runs` one-file redeploys.
 * Target: the three-host deploy within 1.5× of the one-host deploy (not 3×).
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bootHosts } from '../test/e2e/harness/index.js';
import { connectHosts } from '../test/e2e/harness/private-network.js';
import type { TestHost } from '../test/e2e/harness/types.js';
import { changeOneFile, makeBenchApp, touchAll } from './bench-app.js';

const ROOT = resolve(import.meta.dirname, '..');

export interface FleetFigures {
  runs: number;
  cold: { one: number; three: number };
  one: number[];
  three: number[];
  /** three hosts in one batch (`rollout.batch: 3`): all checked and routed at once */
  together: number[];
  /**
   * The rig's own share: three one-host deploys at once, one to each host (three CLI processes),
   * the same work per host as the three-host deploy without any of its coordination.
   */
  parallel: number[];
  /** the one-host deploys' step lines: "step" → ms */
  oneSteps: Map<string, number>[];
  /** the three-host deploys' step lines, per server: "[server] step" → ms */
  steps: Map<string, number>[];
  /**
   * CPU time each redeploy used, in ms: `local` is the CLI's with its rsyncs, `servers` every test
   * host's (its whole cgroup: sshd, the commands, systemd, Caddy, the app), per host.
   */
  cpu: { one: CpuSample[]; three: CpuSample[] };
  /** this machine's cores, which the three test hosts and the CLI share */
  cores: number;
  /** one more three-host redeploy with TOSS_TRACE=1: its time and its trace lines */
  traced?: { ms: number; lines: string[] };
}

export interface CpuSample {
  local: number;
  servers: number[];
}

const CLOCK_TICKS =
  Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU ms this process's reaped children used so far (the CLI, and its rsyncs through it). */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // After "pid (comm) ": state is field 3, cutime and cstime are fields 16 and 17.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS;
}

/** CPU ms everything in a test host used so far: its cgroup's usage_usec. */
async function hostCpuMs(host: TestHost): Promise<number> {
  const read = await host.exec([
    'sh',
    '-c',
    'cat /sys/fs/cgroup/unified/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpu.stat',
  ]);
  const usec = /^usage_usec (\d+)$/m.exec(read.stdout)?.[1];
  if (usec === undefined) throw new Error(`no cpu.stat on ${host.name}: ${read.stderr}`);
  return Number(usec) / 1000;
}

function stepsOf(output: string): Map<string, number> {
  const steps = new Map<string, number>();
  for (const m of output.matchAll(/^(?:\[(\S+)\] )?toss: (.+) done in ([\d.]+)s/gm)) {
    steps.set(m[1] === undefined ? (m[2] as string) : `${m[1]} ${m[2]}`, Number(m[3]) * 1000);
  }
  return steps;
}

/**
 * Waits until no old instance drains on any host (the last deploy's drain, then its stop), so
 * each sample starts on a quiet rig rather than beside the one before it.
 */
async function settled(hosts: TestHost[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  const draining =
    'systemctl list-units --no-legend --state=active,activating "toss-drain-*" | grep -q .';
  while (Date.now() < deadline) {
    const busy = await Promise.all(hosts.map((h) => h.exec(['sh', '-c', draining])));
    if (busy.every((r) => r.code !== 0)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 300));
}

/** Deploys production with the CLI bundle in `dir`; resolves with its wall time and output. */
function timedDeploy(
  cli: string,
  dir: string,
  env: Record<string, string>,
): Promise<{ ms: number; output: string }> {
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    let output = '';
    const child = spawn(process.execPath, [cli, 'deploy', 'production'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (c: Buffer) => {
      output += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolvePromise({ ms: performance.now() - started, output })
        : reject(new Error(`toss deploy production exited ${code}:\n${output}`)),
    );
  });
}

export async function benchFleet(runs: number, log: (s: string) => void): Promise<FleetFigures> {
  const temp = mkdtempSync(join(tmpdir(), 'toss-bench-fleet-'));
  const cliDir = join(temp, 'cli');
  cpSync(join(ROOT, 'dist/cli'), cliDir, { recursive: true });
  const cli = join(cliDir, 'index.js');
  log('fleet: booting three test hosts on a private network');
  const hosts = await bootHosts(3);
  const net = await connectHosts(hosts).catch(async (error: unknown) => {
    await Promise.all(hosts.map((h) => h.shutdown()));
    throw error;
  });
  try {
    const [a, b, c] = hosts as [TestHost, TestHost, TestHost];
    const knownHosts = join(temp, 'known_hosts');
    writeFileSync(knownHosts, `${hosts.flatMap((h) => h.knownHostsLines).join('\n')}\n`);
    const env = {
      HOME: join(temp, 'home'),
      TOSS_KNOWN_HOSTS: knownHosts,
      TOSS_SSH_KEY: a.keyPath,
    };
    const one = await makeBenchApp(join(temp, 'one'), 'solo', { server: `root@${a.ip}` });
    const fleet = (port: number) => ({
      server: `root@${a.ip}`,
      servers: [
        { server: `root@${b.ip}`, private: net.addressOf(b) },
        { server: `root@${c.ip}`, private: net.addressOf(c) },
      ],
      front: { private: net.addressOf(a), port },
    });
    const three = await makeBenchApp(join(temp, 'three'), 'fleet', fleet(2080));
    const together = await makeBenchApp(join(temp, 'together'), 'together', {
      ...fleet(2081),
      rollout: { batch: 3 },
    });
    const soloB = await makeBenchApp(join(temp, 'solo-b'), 'solo', { server: `root@${b.ip}` });
    const soloC = await makeBenchApp(join(temp, 'solo-c'), 'solo', { server: `root@${c.ip}` });
    const deploy = async (app: { dir: string; files: string[] }) => {
      touchAll(app.files);
      return timedDeploy(cli, app.dir, env);
    };
    /** A deploy with the CPU it used, here and on every host, until it exited. */
    // The local figure is read nearest the deploy: reading a host's counter runs a process here.
    const measured = async (app: { dir: string; files: string[] }) => {
      const serversBefore = await Promise.all(hosts.map(hostCpuMs));
      const localBefore = childrenCpuMs();
      const result = await deploy(app);
      const local = childrenCpuMs() - localBefore;
      const servers = await Promise.all(hosts.map(hostCpuMs));
      const cpu: CpuSample = {
        local,
        servers: servers.map((ms, i) => ms - (serversBefore[i] as number)),
      };
      return { ...result, cpu };
    };
    log('fleet: first deploys (one host, three hosts)');
    const cold = { one: (await deploy(one)).ms, three: (await deploy(three)).ms };
    await deploy(together);
    await Promise.all([deploy(soloB), deploy(soloC)]);
    const figures: FleetFigures = {
      ...{ runs, cold, one: [], three: [], together: [], parallel: [] },
      ...{ oneSteps: [], steps: [], cpu: { one: [], three: [] }, cores: availableParallelism() },
    };
    for (let i = 1; i <= runs; i++) {
      log(`fleet: round ${i}/${runs}`);
      // Rotating which goes first, so a drift of the machine's speed hits all alike.
      const apps = [one, three, together, soloB];
      const order = [...apps.slice(i % 4), ...apps.slice(0, i % 4)];
      for (const app of order) {
        if (app === soloB) {
          // one, soloB and soloC at once (`one` then deploys again: a second one-file change).
          const trio = [one, soloB, soloC];
          for (const x of trio) await changeOneFile(x.dir, x.files[777]!, 777, `${i}p`);
          await settled(hosts);
          const started = performance.now();
          await Promise.all(trio.map((x) => deploy(x)));
          figures.parallel.push(performance.now() - started);
          continue;
        }
        await changeOneFile(app.dir, app.files[777]!, 777, String(i));
        await settled(hosts);
        const { ms, output, cpu } = await measured(app);
        if (app === one) {
          figures.one.push(ms);
          figures.oneSteps.push(stepsOf(output));
          figures.cpu.one.push(cpu);
        } else if (app === three) {
          figures.three.push(ms);
          figures.steps.push(stepsOf(output));
          figures.cpu.three.push(cpu);
        } else figures.together.push(ms);
      }
    }
    if (runs > 0) {
      // Where a three-host deploy's time goes: every remote command, with its server.
      await changeOneFile(three.dir, three.files[777]!, 777, 'traced');
      touchAll(three.files);
      await settled(hosts);
      const { ms, output } = await timedDeploy(cli, three.dir, { ...env, TOSS_TRACE: '1' });
      const lines = output.split('\n').filter((l) => l.startsWith('toss-trace: '));
      figures.traced = { ms, lines: lines.map((l) => l.slice('toss-trace: '.length)) };
    }
    return figures;
  } finally {
    log('fleet: tearing down');
    net.teardown();
    await Promise.all(hosts.map((h) => h.shutdown()));
    rmSync(temp, { recursive: true, force: true });
  }
}

/**
 * The CPU the redeploys used, and the shortest wall time that CPU allows on this machine's cores
 * (all of it spread evenly over every core, nothing waiting on anything): where the three-host
 * deploy's time is set by the rig's cores rather than by its rollout.
 */
function reportCpu(f: FleetFigures, median: (xs: number[]) => number): void {
  const secs = (ms: number) => (ms / 1000).toFixed(2);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const line = (label: string, samples: CpuSample[], hosts: number, wall: number) => {
    if (samples.length === 0) return undefined;
    const local = median(samples.map((s) => s.local));
    const servers = samples[0]!.servers.map((_, i) => median(samples.map((s) => s.servers[i]!)));
    const used = servers.slice(0, hosts);
    const total = median(samples.map((s) => s.local + sum(s.servers)));
    const bound = total / f.cores;
    console.log(
      `    ${label}: ${secs(total)} CPU-s (this machine ${secs(local)}, ${used.length === 1 ? 'the host' : 'hosts'} ${used.map(secs).join(' + ')}${servers.length > hosts ? `, idle hosts ${servers.slice(hosts).map(secs).join(' + ')}` : ''}); on ${f.cores} cores at least ${secs(bound)} s, ${(wall / bound).toFixed(2)}× that`,
    );
    return bound;
  };
  console.log(
    "  CPU per redeploy, medians (the CLI and its rsyncs here; each test host's cgroup):",
  );
  const one = line('one host   ', f.cpu.one, 1, median(f.one));
  const three = line('three hosts', f.cpu.three, 3, median(f.three));
  if (one !== undefined && three !== undefined) {
    console.log(
      `    the three-host deploy's work needs ${(three / median(f.one)).toFixed(2)}× the one-host deploy's time on this machine's ${f.cores} cores, before any waiting`,
    );
  }
}

/** Prints the figures; returns how many targets were missed (0 or 1). */
export function reportFleet(f: FleetFigures, median: (xs: number[]) => number): number {
  const secs = (ms: number) => (ms / 1000).toFixed(2);
  const one = median(f.one);
  const three = median(f.three);
  const ratio = three / one;
  const paired = median(f.three.map((ms, i) => ms / f.one[i]!));
  const met = ratio <= 1.5;
  console.log(
    `\nproduction on three servers (a front on the first, over a private network) against one, 2,000 files, one-file redeploys, ${f.runs} runs each, medians:`,
  );
  console.log(`  one host      ${secs(one)} s   (${f.one.map(secs).join('  ')})`);
  console.log(`  three hosts   ${secs(three)} s   (${f.three.map(secs).join('  ')})`);
  console.log(
    `  ratio ${ratio.toFixed(2)}× (paired ${paired.toFixed(2)}×); target ≤ 1.5×: ${met ? 'met' : 'MISSED'}`,
  );
  const together = median(f.together);
  console.log(
    `  three hosts in one batch (rollout.batch 3, not the default) ${secs(together)} s, ${(together / one).toFixed(2)}× (${f.together.map(secs).join('  ')})`,
  );
  const parallel = median(f.parallel);
  console.log(
    `  reference, not a target: three one-host deploys at once, one per host (the rig's own contention: three test hosts share this machine's cores) ${secs(parallel)} s, ${(parallel / one).toFixed(2)}× one host (${f.parallel.map(secs).join('  ')}); the three-host deploy takes ${(three / parallel).toFixed(2)}× of it`,
  );
  console.log(
    `  first deploys: one host ${secs(f.cold.one)} s, three hosts ${secs(f.cold.three)} s`,
  );
  reportCpu(f, median);
  for (const [label, list] of [
    ['one host, per step', f.oneSteps],
    ['three hosts, per server and step', f.steps],
  ] as const) {
    const names = [...new Set(list.flatMap((s) => [...s.keys()]))];
    if (names.length === 0) continue;
    console.log(`  ${label}, median s:`);
    for (const name of names) {
      console.log(`    ${name.padEnd(58)}${secs(median(list.map((s) => s.get(name) ?? 0)))}`);
    }
  }
  if (f.traced) {
    console.log(
      `  one traced three-host redeploy (${secs(f.traced.ms)} s): remote commands, start and duration in s from the CLI's start:`,
    );
    for (const line of f.traced.lines) console.log(`    ${line}`);
  }
  return met ? 0 : 1;
}
