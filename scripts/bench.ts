/**
 * `npm run bench`: how fast toss deploys, as ratios against a floor measured in the same run.
 *
 * One throwaway test host; a generated 2,000-file app (~2 KB each, 20 × 10 × 10 folders) in a git
 * checkout, every file's mtime touched before each run as a fresh CI checkout would have it.
 * Scenarios, each run with the real CLI bundle as a child process:
 *   cold deploy         first deploy of a fresh preview environment (a new name per sample); its
 *                       unchanged files are linked from production's live release, so a second
 *                       app with no production shows the same with nothing to link from
 *   no-change redeploy  production again, nothing changed
 *   one-file redeploy   production again, one file changed and committed
 *   push to preview URL the action, examples/hello-ts built on the runner with a warm cache
 *                       (see bench-preview.ts)
 *   action start        the action bundle's load to its first SSH byte (see bench-start.ts)
 *   sleeping previews   wake times, and 50 previews plus production on a host limited to 2 GB
 *                       (see bench-sleep.ts; alone with --sleep)
 *   databases           a preview's database from a ~100 MB template (FILE_COPY, WAL_LOG,
 *                       pg_dump | psql, against cp -a + sync of its files), and what a database
 *                       adds to a preview's first deploy of examples/notes (see bench-database.ts;
 *                       alone with --database)
 *   scale               one app at 2, 50 and 200 environments, and twenty apps of ten: the next
 *                       deploy, a redeploy, list, status, remove and sweep (see bench-scale.ts;
 *                       alone with --scale)
 *   CLI start           `toss --version` against `node -e 0`, and `toss deploy` to its first SSH
 *                       byte (see bench-start.ts)
 *   fleet               production on three hosts behind a front against one host, one-file
 *                       redeploys (see bench-fleet.ts; alone with --fleet)
 * Floor: one `rsync -az --delete` of the tree to a fresh directory on the host plus one `ssh` that
 * runs `systemctl restart` of a trivial unit, with the same key and known_hosts.
 * Medians of --runs N (default 5), SSH logins per deploy (sshd's 'Accepted publickey' lines) and
 * the median duration of each pipeline step (the CLI's non-TTY "toss: <Step> done in N.Ns" lines).
 *
 * Targets (issue 18): no-change ≤ 1.1×, one-file ≤ 1.5×, cold ≤ 1.3× the floor, one SSH login each.
 *
 *   npm run bench [-- --runs 5] [-- --strict] [-- --only deploys,preview,start,sleep,database,scale,fleet]
 *                                                --strict: exit 1 when a target is missed;
 *                                                --runs 0: only the traced redeploy;
 *                                                --sleep, --database, --scale, --fleet: that part alone
 *
 * TOSS_BENCH_RTT_MS=50: the deploys (toss and the floor alike) reach the host's sshd through a
 * proxy adding that round trip (bench-latency.ts); the other parts are unchanged.
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { bootHost, checkPrerequisites } from '../test/e2e/harness/index.js';
import { sshArgv } from '../test/e2e/harness/ready.js';
import type { TestHost } from '../test/e2e/harness/types.js';
import { inHost, sshLogins } from '../test/e2e/support/app.js';
import { fileText, makeBenchApp, touchAll } from './bench-app.js';
import { benchDatabase, reportDatabase } from './bench-database.js';
import { benchFleet, reportFleet } from './bench-fleet.js';
import { rttFromEnv, type SlowLink, slowLinkTo } from './bench-latency.js';
import { benchPushToPreview, reportPushToPreview } from './bench-preview.js';
import { benchScale, reportScale } from './bench-scale.js';
import { q, sh } from './bench-shell.js';
import { benchSleep, reportSleep } from './bench-sleep.js';
import {
  benchActionStart,
  benchCliStart,
  reportActionStart,
  reportCliStart,
} from './bench-start.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const APP = 'bench';

const args = process.argv.slice(2);
const runsArg = args.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(args[runsArg + 1]) : 5;
if (!Number.isInteger(RUNS) || RUNS < 0) throw new Error('--runs: expected a whole number ≥ 0');
const STRICT = args.includes('--strict');
const PARTS = ['deploys', 'preview', 'start', 'sleep', 'database', 'scale', 'fleet'] as const;
type Part = (typeof PARTS)[number];
const onlyArg = args.indexOf('--only');
const ONLY = new Set<Part>(
  onlyArg >= 0
    ? (String(args[onlyArg + 1]).split(',') as Part[])
    : (['sleep', 'database', 'scale', 'fleet'] as const).filter((p) => args.includes(`--${p}`)),
);
for (const part of ONLY) {
  if (!PARTS.includes(part)) throw new Error(`--only: expected some of ${PARTS.join(', ')}`);
}
/** Whether this run measures `part`: all of them unless --only (or --sleep …) names some. */
const runs = (part: Part) => ONLY.size === 0 || ONLY.has(part);

const log = (text: string) => console.log(`bench: ${text}`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const secs = (ms: number) => (ms / 1000).toFixed(2);

const tempDirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
};
const removeTempDirs = () => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
};
process.on('exit', removeTempDirs);

// ---- measuring ----------------------------------------------------------------------------------

interface Sample {
  ms: number;
  logins: number;
  steps: Map<string, number>;
}

async function timed(host: TestHost, body: () => Promise<void>): Promise<Sample> {
  const before = await sshLogins(host);
  const started = performance.now();
  await body();
  const ms = performance.now() - started;
  return { ms, logins: (await sshLogins(host)) - before, steps: new Map() };
}

/** Sleeping previews on a host of their own, limited to 2 GB from outside (bench-sleep.ts). */
async function sleepingPreviews(): Promise<number> {
  log('booting a test host limited to 2 GB for sleeping previews');
  const host = await bootHost({ memoryLimit: '2G' });
  try {
    return reportSleep(await benchSleep(host, log), median);
  } finally {
    await host.shutdown();
  }
}

/** Databases on a host of their own (bench-database.ts). */
async function databases(): Promise<number> {
  log('booting a test host for databases');
  const host = await bootHost();
  try {
    return reportDatabase(await benchDatabase(host, log), median);
  } finally {
    await host.shutdown();
  }
}

function printTrace(label: string, traced: Sample & { output: string }): void {
  const commands = traced.output.split('\n').filter((l) => l.startsWith('toss-trace: '));
  console.log(
    `\none traced ${label} deploy (${secs(traced.ms)} s, ${traced.logins} logins): ` +
      `${commands.length} remote commands and rsync (start and duration in s from the CLI's start):`,
  );
  for (const line of commands) console.log(`  ${line.slice('toss-trace: '.length)}`);
  console.log(
    `  ${[...traced.steps].map(([k, v]) => `${k} ${secs(v)}`).join(' · ')} · total ${secs(traced.ms)}`,
  );
}

/** Scale on hosts of their own (bench-scale.ts). */
async function scale(): Promise<number> {
  log('scale: one app to 200 environments, then twenty apps');
  return reportScale(await benchScale(log), median);
}

async function main(): Promise<void> {
  const started = Date.now();
  checkPrerequisites();
  let missed = 0;
  if (runs('deploys') || runs('preview') || runs('start')) missed += await onOneHost();
  if (runs('sleep')) missed += await sleepingPreviews();
  if (runs('database')) missed += await databases();
  if (runs('scale')) missed += await scale();
  if (runs('fleet')) missed += reportFleet(await benchFleet(Math.max(RUNS, 1), log), median);
  console.log(`\nbench wall time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (missed > 0) {
    console.log(`${missed} target(s) missed`);
    if (STRICT) process.exitCode = 1;
  }
}

/** The deploy scenarios, the action's push to a preview and start-up, on one host. */
async function onOneHost(): Promise<number> {
  let missed = 0;
  // A private copy of the bundle, so a rebuild of dist/ during the run cannot pull it away.
  const cliDir = tempDir('toss-bench-cli-');
  cpSync(join(ROOT, 'dist/cli'), cliDir, { recursive: true });
  const cli = join(cliDir, 'index.js');

  log('booting a test host');
  const host = await bootHost();
  let link: SlowLink | undefined;
  try {
    // TOSS_BENCH_RTT_MS: toss and the floor reach sshd through a proxy adding that round trip.
    const rtt = rttFromEnv();
    if (rtt > 0) {
      link = await slowLinkTo(host, rtt, tempDir('toss-bench-link-'));
      log(
        `deploys over a ${rtt} ms round trip: a proxy at ${link.ip}:${link.port} in front of sshd`,
      );
    }
    const ssh = link ?? { ip: host.ip, port: host.port, knownHostsPath: host.knownHostsPath };
    const server = link ? `root@${link.ip}:${link.port}` : `root@${host.ip}`;
    const sshTo = (...command: string[]) =>
      sshArgv({ ...ssh, keyPath: host.keyPath }, 'root', command);
    log(`${host.name} up at ${host.ip}; generating the 2,000-file app`);
    const app = await makeBenchApp(tempDir('toss-bench-app-'), APP, { server });
    // Another app with no production: its previews have nothing to link from (deploy-place.ts).
    const lone = await makeBenchApp(tempDir('toss-bench-lone-'), `${APP}lone`, { server });
    const home = tempDir('toss-bench-home-');

    const deploy = async (
      env: string,
      extraEnv: Record<string, string> = {},
      cwd = app.dir,
    ): Promise<Sample & { output: string }> => {
      let output = '';
      const sample = await timed(
        host,
        () =>
          new Promise((resolvePromise, reject) => {
            const child = spawn(process.execPath, [cli, 'deploy', env], {
              cwd,
              env: {
                PATH: process.env.PATH ?? '/usr/bin:/bin',
                HOME: home,
                TOSS_KNOWN_HOSTS: ssh.knownHostsPath,
                TOSS_SSH_KEY: host.keyPath,
                NO_COLOR: '1',
                ...extraEnv,
              },
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
                ? resolvePromise()
                : reject(new Error(`toss deploy ${env} exited ${code}:\n${output}`)),
            );
          }),
      );
      for (const m of output.matchAll(/^toss: (.+) done in ([\d.]+)s/gm))
        sample.steps.set(m[1] as string, Number(m[2]) * 1000);
      return { ...sample, output };
    };

    // The floor: the same tree to a fresh directory, and one restart of a unit, over plain ssh.
    await inHost(host, [
      'sh',
      '-c',
      `printf '[Service]\\nExecStart=/bin/sleep infinity\\n' > /etc/systemd/system/bench-floor.service &&
       systemctl daemon-reload && systemctl start bench-floor && mkdir -p /root/bench-floor`,
    ]);
    // A reference beside the floor: the same upload, then a restart of the bench app itself
    // (node server.js, as toss starts it but with no sandbox, health gate or Caddy) until it
    // listens. The targets stay against the floor; this says how much of a deploy is the app's
    // own start on this host.
    await inHost(host, [
      'sh',
      '-c',
      `printf '[Service]\\nEnvironment=PORT=3999\\nWorkingDirectory=/root/bench-floor/current\\nExecStart=/usr/bin/node server.js\\n' > /etc/systemd/system/bench-floor-app.service &&
       systemctl daemon-reload`,
    ]);
    const sshBase = sshTo().slice(0, -1);
    let floorRun = 0;
    // The whole tree to a fresh directory of the host, over plain ssh.
    const rsyncTree = (run: number) =>
      sh([
        'rsync',
        '-az',
        '--delete',
        '--exclude=.git',
        '-e',
        sshBase.map(q).join(' '),
        `${app.dir}/`,
        `root@${ssh.ip}:/root/bench-floor/run${run}/`,
      ]);
    const floor = async () => {
      floorRun++;
      const parts = new Map<string, number>();
      const sample = await timed(host, async () => {
        let t = performance.now();
        await rsyncTree(floorRun);
        parts.set('rsync', performance.now() - t);
        t = performance.now();
        await sh(sshTo('systemctl', 'restart', 'bench-floor'));
        parts.set('ssh restart', performance.now() - t);
      });
      sample.steps = parts;
      return sample;
    };
    const floorWithApp = async () => {
      floorRun++;
      return timed(host, async () => {
        await rsyncTree(floorRun);
        await sh(
          sshTo(
            'sh',
            '-c',
            q(
              `ln -sfn run${floorRun} /root/bench-floor/current && systemctl restart bench-floor-app && ` +
                `until bash -c ': < /dev/tcp/127.0.0.1/3999' 2>/dev/null; do sleep 0.02; done`,
            ),
          ),
        );
      });
    };
    // What any run of the CLI pays before its first step: node loading the bundle.
    const startup: number[] = [];
    const measureStartup = async () => {
      const t = performance.now();
      await sh([process.execPath, cli, '--version']);
      startup.push(performance.now() - t);
    };

    const samples: Record<
      'floor' | 'floorApp' | 'cold' | 'coldLone' | 'nochange' | 'onefile',
      Sample[]
    > = {
      floor: [],
      floorApp: [],
      cold: [],
      coldLone: [],
      nochange: [],
      onefile: [],
    };
    log('warm-up: one floor, first production deploy');
    touchAll(app.files);
    await floor();
    touchAll(app.files);
    await deploy('production');

    const changed = app.files[777] as string;
    const rounds = runs('deploys') ? RUNS : 0;
    for (let i = 1; i <= rounds; i++) {
      log(`round ${i}/${RUNS}`);
      touchAll(app.files);
      samples.floor.push(await floor());
      touchAll(app.files);
      samples.floorApp.push(await floorWithApp());
      await measureStartup();
      touchAll(app.files);
      samples.cold.push(await deploy(`cold-${i}`));
      touchAll(lone.files);
      samples.coldLone.push(await deploy(`cold-${i}`, {}, lone.dir));
      touchAll(app.files);
      samples.nochange.push(await deploy('production'));
      writeFileSync(changed, `${fileText(777)}// change ${i}\n`);
      await run(
        'git',
        [
          '-c',
          'user.name=Bench',
          '-c',
          'user.email=b@example.com',
          'commit',
          '-qam',
          `change ${i}`,
        ],
        {
          cwd: app.dir,
        },
      );
      touchAll(app.files);
      samples.onefile.push(await deploy('production'));
    }

    // ---- report ---------------------------------------------------------------------------------
    if (rounds > 0) {
      const floorMs = median(samples.floor.map((s) => s.ms));
      const rows: [string, Sample[], number | undefined][] = [
        ['floor (rsync -az + ssh restart)', samples.floor, undefined],
        ['cold deploy (new preview)', samples.cold, 1.3],
        ['no-change redeploy', samples.nochange, 1.1],
        ['one-file redeploy', samples.onefile, 1.5],
      ];
      const range = (xs: number[]) => {
        const lo = Math.min(...xs);
        const hi = Math.max(...xs);
        return lo === hi ? String(lo) : `${lo}–${hi}`;
      };
      console.log(
        `\n2,000 files × ~2 KB, ${RUNS} runs each, medians${link ? `, over a ${link.rttMs} ms round trip to sshd` : ''}; ratio = median ÷ median floor of this run, ` +
          'paired = median of (deploy ÷ floor of the same round)\n',
      );
      console.log(
        `${'scenario'.padEnd(32)}${'median s'.padStart(9)}${'ratio'.padStart(8)}${'paired'.padStart(8)}${'logins'.padStart(8)}   target`,
      );
      for (const [label, list, target] of rows) {
        const ms = median(list.map((s) => s.ms));
        const ratio = ms / floorMs;
        const logins = list.map((s) => s.logins);
        // Median of each round's deploy ÷ that round's floor: steadier when the machine's load drifts.
        const paired = median(list.map((s, i) => s.ms / (samples.floor[i] as Sample).ms));
        let verdict = '';
        if (target !== undefined) {
          const ok = ratio <= target && Math.max(...logins) <= 1;
          if (!ok) missed++;
          verdict = `≤ ${target}× and 1 login: ${ok ? 'met' : 'MISSED'}`;
        }
        console.log(
          `${label.padEnd(32)}${secs(ms).padStart(9)}${`${ratio.toFixed(2)}×`.padStart(8)}${`${paired.toFixed(2)}×`.padStart(8)}${range(logins).padStart(8)}   ${verdict}`,
        );
      }
      console.log('\nsamples (s):');
      for (const [label, list] of rows)
        console.log(`  ${label.padEnd(32)}${list.map((s) => secs(s.ms)).join('  ')}`);
      const appFloorMs = median(samples.floorApp.map((s) => s.ms));
      const against = (list: Sample[]) =>
        `${(median(list.map((s) => s.ms)) / appFloorMs).toFixed(2)}×`;
      console.log(
        `\nreference, not a target: the floor with the app's own start (rsync -az, then ssh: restart ` +
          `node server.js unsandboxed and wait until it listens): ${secs(appFloorMs)} s ` +
          `(${samples.floorApp.map((s) => secs(s.ms)).join('  ')}); against it cold ` +
          `${against(samples.cold)}, one-file ${against(samples.onefile)}`,
      );
      // A new preview links what production's live release has (deploy-place.ts); the first
      // preview of an app with no production sends every file, as the floor does.
      const loneMs = median(samples.coldLone.map((s) => s.ms));
      console.log(
        `reference, not a target: a new preview with nothing to link from (an app with no ` +
          `production): ${secs(loneMs)} s (${samples.coldLone.map((s) => secs(s.ms)).join('  ')}), ` +
          `${(loneMs / floorMs).toFixed(2)}× the floor`,
      );

      // Where the time goes: median per step, and what is left (node start-up, config, exit).
      const deploys = rows.slice(1);
      const stepNames: string[] = [];
      for (const [, list] of deploys)
        for (const s of list)
          for (const k of s.steps.keys()) if (!stepNames.includes(k)) stepNames.push(k);
      console.log('\nper step, median s (CLI "done in" lines):');
      console.log(
        `${'step'.padEnd(26)}${deploys.map(([l]) => l.split(' ')[0]?.padStart(10)).join('')}`,
      );
      for (const step of stepNames)
        console.log(
          `${step.padEnd(26)}${deploys
            .map(([, list]) => secs(median(list.map((s) => s.steps.get(step) ?? 0))).padStart(10))
            .join('')}`,
        );
      const outside = (s: Sample) => s.ms - [...s.steps.values()].reduce((a, b) => a + b, 0);
      console.log(
        `${'(outside steps)'.padEnd(26)}${deploys.map(([, list]) => secs(median(list.map(outside))).padStart(10)).join('')}`,
      );
      console.log(
        `${'total'.padEnd(26)}${deploys.map(([, list]) => secs(median(list.map((s) => s.ms))).padStart(10)).join('')}`,
      );
    }
    // Where the time goes: a no-change and a one-file redeploy with TOSS_TRACE=1, which makes the
    // CLI print every remote command it runs: when it started, how long it took, runner or channel.
    if (runs('deploys')) {
      touchAll(app.files);
      printTrace('no-change', await deploy('production', { TOSS_TRACE: '1' }));
      writeFileSync(changed, `${fileText(777)}// traced change\n`);
      touchAll(app.files);
      printTrace('one-file', await deploy('production', { TOSS_TRACE: '1' }));
      touchAll(app.files);
      printTrace('cold', await deploy('cold-traced', { TOSS_TRACE: '1' }));
    }
    if (rounds > 0) {
      const part = (k: string) => secs(median(samples.floor.map((s) => s.steps.get(k) ?? 0)));
      console.log(
        `\nfloor split, median s: rsync ${part('rsync')}, ssh restart ${part('ssh restart')}; ` +
          `CLI start-up (node <bundle> --version): ${secs(median(startup))}`,
      );
    }
    if (runs('preview') && RUNS > 0) {
      reportPushToPreview(await benchPushToPreview(host, RUNS, log), median);
    }
    if (runs('start') && RUNS > 0) {
      log('action start');
      reportActionStart(await benchActionStart(RUNS, host.key), median);
      log('CLI start');
      missed += reportCliStart(
        await benchCliStart(Math.max(RUNS, 10), host.key, { cliDir }),
        median,
      );
    }
    return missed;
  } finally {
    log('tearing down');
    await link?.close();
    await host.shutdown();
    removeTempDirs();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(`bench failed: ${(error as Error).message ?? error}`);
    process.exit(1);
  },
);
