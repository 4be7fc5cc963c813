/**
 * What a preview's build and app print reaches the job log
 * masked and inert. The action runs as the runner runs it (a real pull_request payload, the fake
 * GitHub); its stdout is read as the runner reads it (support/workflow-log.ts: workflow commands
 * obeyed unless stopped, add-mask values masked in every later line).
 *
 * The preview's secrets are the server's, set as users set them: `toss secrets push preview`
 * (one of them multi-line) and an override stored for the environment. The deployScript prints
 * them and the lines `::add-mask::x`, `::error::boom`, `::stop-commands::t`, `::warning::w`; the
 * app of a second deploy prints them, then fails its health check, so the failure quotes its
 * journal.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGitHub, startFakeGitHub } from '../support/fake-github/server.js';
import { example } from '../support/webhook-events.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, inHost, makeApp, toss } from './support/app.js';
import { type ActionRun, runAction } from './support/runner.js';
import { readWorkflowLog, type WorkflowLog } from './support/workflow-log.js';

const rnd = () => randomBytes(8).toString('hex');
const BASE = `base${rnd()}`;
const CERT_LINES = [`certA${rnd()}`, `certB${rnd()}`, `certC${rnd()}`];
const OVERRIDE = `over${rnd()}`;
const INPUT = `input${rnd()}`;
const VALUES = [BASE, ...CERT_LINES, OVERRIDE, INPUT];
const PR = 41;
const INJECTED = ['::add-mask::x', '::error::boom', '::stop-commands::t', '::warning::w'];

let host: TestHost;
let fake: FakeGitHub;
let app: AppCheckout;

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  fake = await startFakeGitHub();
  app = await makeApp(host, {}, `https://github.com/${fake.repository}.git`);
  fake.addPull({ number: PR, state: 'open', headSha: 'a'.repeat(40), headRef: 'changes' });
  // The previews' base secrets, pushed as the README says.
  const local = join(mkdtempSync(join(tmpdir(), 'toss-env-')), '.env.preview');
  writeFileSync(local, `BASE_SECRET=${BASE}\nCERT="${CERT_LINES.join('\n')}"\n`);
  const pushed = await toss(host, ['secrets', 'push', 'preview', '--file', local], {
    cwd: app.dir,
  });
  expect(pushed.code, pushed.output).toBe(0);
  // An override of this preview, as an earlier `toss deploy pr-41 -s` would have stored it.
  const overrides = '/srv/hello/.toss/secrets/overrides';
  await inHost(host, ['install', '-d', '-m', '0700', '-o', 'root', '-g', 'root', overrides]);
  const written = await host.exec(['sh', '-c', `umask 077; cat > ${overrides}/pr-${PR}.env`], {
    input: `OVERRIDE_SECRET="${OVERRIDE}"\n`,
  });
  expect(written.code, written.stderr).toBe(0);
}, 300_000);
afterAll(async () => {
  await fake?.close();
  await host?.shutdown();
});
afterEach(() => {
  expect(fake.violations, fake.violations.join('\n')).toEqual([]);
});

function prEvent(sha: string) {
  // Sets: number, pull_request.number, pull_request.head.sha.
  const payload = structuredClone(example('pull_request', 'synchronize'));
  payload.number = PR;
  payload.pull_request.number = PR;
  payload.pull_request.head.sha = sha;
  return payload;
}

function deployPreview(sha: string): Promise<ActionRun> {
  return runAction({
    workspace: app.dir,
    apiUrl: fake.url,
    repository: fake.repository,
    eventName: 'pull_request',
    payload: prEvent(sha),
    ref: `refs/pull/${PR}/merge`,
    sha: 'b'.repeat(40),
    inputs: {
      'ssh-key': host.key,
      'known-hosts': host.knownHostsLines.join('\n'),
      'github-token': 'ghs_fake_installation_token',
      'lock-wait': '60',
      secrets: `INPUT_SECRET=${INPUT}\n`,
    },
  });
}

/** The stdout lines that are not masks: what the build, the app and the action printed. */
const printed = (run: ActionRun) =>
  run.stdout
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');

/** What the job log shows: every line, and every command's data (annotations are shown too). */
const shown = (log: WorkflowLog) =>
  [...log.lines.map((l) => l.text), ...log.commands.map((c) => `${c.name}: ${c.data}`)].join('\n');

/** Lines the same code prints in the build and in the app: every secret, then the commands. */
const PRINT_ALL = [
  'echo "base=$BASE_SECRET"',
  'printf "%s\\n" "$CERT"',
  'echo "override=$OVERRIDE_SECRET"',
  'echo "input=$INPUT_SECRET"',
  ...INJECTED.map((line) => `echo '${line}'`),
].join('; ');

describe('a preview printing its secrets and workflow commands', () => {
  it('the build: values shown as ***, each line of the multi-line one too; its command lines inert inside the fence', async () => {
    app.configure({ deployScript: ['node build.js', PRINT_ALL, 'echo build-finished'] });
    const run = await deployPreview('a'.repeat(40));
    expect(run.code, run.stdout).toBe(0);
    const log = readWorkflowLog(run.stdout);
    // The raw stdout did carry them (the echo worked), so the masks are what hides them.
    for (const value of VALUES) expect(printed(run)).toContain(value);
    for (const value of VALUES) expect(shown(log)).not.toContain(value);
    const texts = log.lines.map((l) => l.text);
    expect(texts).toContain('base=***');
    expect(texts).toContain('override=***');
    expect(texts).toContain('input=***');
    expect(texts.filter((t) => t === '***').length).toBeGreaterThanOrEqual(CERT_LINES.length);
    // Each injected line is shown as text, printed while commands were stopped…
    for (const line of INJECTED) {
      expect(log.lines).toContainEqual({ text: line, fenced: true });
      expect(log.lines).not.toContainEqual({ text: line, fenced: false });
    }
    // …and the fence was lifted again: the action's own commands after the build still work.
    expect(log.lines).toContainEqual({ text: 'build-finished', fenced: true });
    const names = log.commands.map((c) => c.name);
    expect(names.lastIndexOf('group')).toBeGreaterThan(names.indexOf('stop-commands'));
    // The action's own warning (no domain) is obeyed; nothing the build printed is.
    expect(log.commands.filter((c) => c.name === 'error')).toEqual([]);
    expect(log.commands.filter((c) => ['boom', 'w', 'x', 't'].includes(c.data))).toEqual([]);
    expect(log.commands.filter((c) => c.name === 'stop-commands' && c.data === 't')).toEqual([]);
    expect(log.masks).not.toContain('x');
    for (const command of log.commands.filter((c) => c.name === 'stop-commands')) {
      expect(command.data).toMatch(/^[0-9a-f]{32}$/);
    }
    expect(run.outputs.action).toBe('deployed');
  });

  it("the app's journal in a failed health check: the values are ***, the annotation is the action's one error", async () => {
    app.configure({
      deployScript: ['node build.js'],
      startCommand: `${PRINT_ALL}; exit 1`,
      healthCheck: { path: '/up', timeout: 3 },
    });
    await app.commit('toss.json', `${JSON.stringify(app.config(), null, 2)}\n`);
    const run = await deployPreview('c'.repeat(40));
    expect(run.code, run.stdout).toBe(1);
    const log = readWorkflowLog(run.stdout);
    const errors = log.commands.filter((c) => c.name === 'error');
    expect(errors, run.stdout).toHaveLength(1);
    const annotation = errors[0]!.data;
    expect(annotation).toContain('Health check failed');
    // The journal is quoted (the app did print), with every value masked.
    for (const value of VALUES) expect(printed(run)).toContain(value);
    expect(annotation).toContain('base=***');
    expect(annotation).toContain('override=***');
    expect(annotation).toContain('::error::boom');
    for (const value of VALUES) expect(shown(log)).not.toContain(value);
    expect(log.commands.filter((c) => ['boom', 'w', 'x', 't'].includes(c.data))).toEqual([]);
  });
});
