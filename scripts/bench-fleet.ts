/**
 * Production on three servers against one (issue 19): the same 2,000-file app deployed by the
 * real CLI to one test host, and to three test hosts behind the first one's Caddy (a front over
 * the harness's private network), alternating, medians of `runs` one-file redeploys.
 * Target: the three-host deploy within 1.5× of the one-host deploy (not 3×).
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  /** the three-host deploys' step lines, per server: "[server] step" → ms */
  steps: Map<string, number>[];
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
    const three = await makeBenchApp(join(temp, 'three'), 'fleet', {
      server: `root@${a.ip}`,
      servers: [
        { server: `root@${b.ip}`, private: net.addressOf(b) },
        { server: `root@${c.ip}`, private: net.addressOf(c) },
      ],
      front: { private: net.addressOf(a), port: 9080 },
    });
    const deploy = async (app: { dir: string; files: string[] }) => {
      touchAll(app.files);
      return timedDeploy(cli, app.dir, env);
    };
    log('fleet: first deploys (one host, three hosts)');
    const cold = { one: (await deploy(one)).ms, three: (await deploy(three)).ms };
    const figures: FleetFigures = { runs, cold, one: [], three: [], steps: [] };
    for (let i = 1; i <= runs; i++) {
      log(`fleet: round ${i}/${runs}`);
      // Alternating which goes first, so a drift of the machine's speed hits both alike.
      const order = i % 2 ? [one, three] : [three, one];
      for (const app of order) {
        await changeOneFile(app.dir, app.files[777]!, 777, String(i));
        const { ms, output } = await deploy(app);
        if (app === one) figures.one.push(ms);
        else {
          figures.three.push(ms);
          const steps = new Map<string, number>();
          for (const m of output.matchAll(/^(?:\[(\S+)\] )?toss: (.+) done in ([\d.]+)s/gm)) {
            steps.set(`${m[1] ?? '-'} ${m[2]}`, Number(m[3]) * 1000);
          }
          figures.steps.push(steps);
        }
      }
    }
    return figures;
  } finally {
    log('fleet: tearing down');
    net.teardown();
    await Promise.all(hosts.map((h) => h.shutdown()));
    rmSync(temp, { recursive: true, force: true });
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
  console.log(
    `  first deploys: one host ${secs(f.cold.one)} s, three hosts ${secs(f.cold.three)} s`,
  );
  const names = [...new Set(f.steps.flatMap((s) => [...s.keys()]))];
  if (names.length > 0) {
    console.log('  three hosts, per server and step, median s:');
    for (const name of names) {
      console.log(`    ${name.padEnd(58)}${secs(median(f.steps.map((s) => s.get(name) ?? 0)))}`);
    }
  }
  return met ? 0 : 1;
}
