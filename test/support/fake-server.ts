/**
 * A recording fake of the server the pipeline talks to (the `Server` interface of
 * src/pipeline/server.ts), for unit tests that drive deploy, remove, rollback, the lock and the
 * action's main step in milliseconds.
 *
 * `FakeHost` is the machine: state.json and registry.json (kept as text and read back with the
 * real parse and serialize functions), the files toss reads (Caddyfile, site files, env files,
 * unit templates), each environment's releases, staging copies and links, and the instances that
 * run. `host.connect` is an `OpenServer`: every call opens a new `FakeServer`, one connection
 * holding its own lock token, as the SSH session does. Guarded commands run only while that token
 * is the lock in state.json, and refuse the way the session does otherwise (`lockLost`).
 *
 * Every call is recorded in order with a short label derived from the command (`adopt staging`,
 * `start instance`, `install site`, `switch current`…), so tests read like the pipeline's steps.
 * Commands answer through a rule table: tests add rules (`host.on`) that override the defaults,
 * which model a server on which a deploy succeeds.
 */
import {
  type TossConfig,
  type TossConfigInput,
  tossConfigSchema,
} from '../../src/config/schema.js';
import { RemoteCommandError, TossError } from '../../src/errors.js';
import type { EventSink, PipelineEvent } from '../../src/pipeline/events.js';
import type { Actor, Login } from '../../src/pipeline/request.js';
import type {
  OpenServer,
  RootRunOptions,
  RunOptions,
  RunResult,
  Server,
  UploadParams,
} from '../../src/pipeline/server.js';
import { lockLost } from '../../src/pipeline/server.js';
import { BESIDE_END, BESIDE_START, shellJoin } from '../../src/remote/quote.js';
import { CADDY_ADMIN_ADDRESS } from '../../src/server/caddy-admin.js';
import { CADDY_INVALID_EXIT } from '../../src/server/caddy-apply.js';
import { createLock, isOwnLock, type Lock } from '../../src/server/lock.js';
import {
  appPaths,
  CADDY_IMPORT_LINE,
  CADDYFILE,
  INCOMING_DIR,
  isReleaseId,
  REGISTRY_FILE,
  STAGING_PREFIX,
} from '../../src/server/paths.js';
import { parseRegistry, type Registry, serializeRegistry } from '../../src/server/registry.js';
import { parseState, type State, serializeState, setLock } from '../../src/server/state.js';

/** What kind of call the pipeline made. */
export type CallKind =
  | 'root'
  | 'guarded'
  | 'batch'
  | 'start'
  | 'cleanup'
  | 'read'
  | 'upload'
  | 'state'
  | 'registry';

/** One command as it was asked for (a batch or a cleanup holds several). */
export interface FakeCommand {
  label: string;
  argv: string[];
  stdin: string | undefined;
  /** false when it never ran: the lock was lost, or a command before it in a batch failed */
  ran: boolean;
  /** its exit code, once it ran */
  code?: number | null;
  /** the kind of call that carried it */
  kind: CallKind;
  /** which connection (1, 2…) */
  connection: number;
}

export interface FakeCall {
  kind: CallKind;
  connection: number;
  /** the commands of a root, guarded, batch, start or cleanup call */
  commands: FakeCommand[];
  stdin?: string | undefined;
  /** refused because this connection no longer held the lock */
  refused?: boolean;
  /** read: the paths read */
  paths?: string[];
  /** upload: what was asked; and whether it went through */
  upload?: UploadParams;
  ok?: boolean;
  /** state / registry: `read` or `update`, and whether an update wrote */
  op?: 'read' | 'update';
  wrote?: boolean;
  /** state: the lock token state.json names after this call */
  lockAfter?: string | null;
  /** state: state.json after this call */
  stateAfter?: State | undefined;
}

export interface Reply {
  code?: number | null;
  stdout?: string;
  stderr?: string;
}

/** A command as a rule sees it. */
export interface CommandContext {
  label: string;
  argv: string[];
  stdin: string | undefined;
  kind: CallKind;
  host: FakeHost;
}

type Matcher = string | ((command: CommandContext) => boolean);

interface Rule {
  match: Matcher;
  reply: (command: CommandContext) => Reply | undefined;
  /** how many more times it applies (Infinity: always) */
  times: number;
}

interface EnvDisk {
  releases: Set<string>;
  staging: Set<string>;
  /** `current` and each port's slot → release id */
  links: Map<string, string>;
}

const BASE_LISTENING = [22, 80, 443];
const OTHER_MACHINE = 'f'.repeat(32);

/** What `host.otherLock` makes: the lock of another run, by default a fresh one. */
export interface OtherLock {
  environment?: string;
  token?: string;
  by?: string;
  /** when it started (and last beat); default now */
  at?: Date;
  preemptible?: boolean;
}

export class FakeHost {
  readonly calls: FakeCall[] = [];
  /** commands no label was found for (a test should expect none) */
  readonly unknown: string[][] = [];
  readonly files = new Map<string, string>();
  /** instance units running */
  readonly running = new Set<string>();
  /** wake sockets listening */
  readonly sockets = new Set<string>();
  /** PostgreSQL's databases by name; undefined: no PostgreSQL (psql fails) */
  databases: Set<string> | undefined;
  /** their comments (a sealed template's says so) */
  readonly databaseComments = new Map<string, string>();
  /** ports something other than toss's instances listens on */
  readonly listening = new Set<number>(BASE_LISTENING);
  /** first uploads' staging directories under INCOMING_DIR (made there, not yet adopted) */
  readonly incoming = new Set<string>();
  /** whether INCOMING_DIR was made */
  incomingReady = false;
  /** what the server says of its processor and C library */
  platform = 'x86_64\nglibc 2.36';
  connections = 0;
  closed = 0;
  private readonly states = new Map<string, string>();
  private registryText: string | null = null;
  private readonly disks = new Map<string, EnvDisk>();
  private readonly rules: Rule[] = [];
  private readonly beforeHooks: Array<{ label: string; run: () => void; once: boolean }> = [];

  constructor(options: { caddyfile?: string | null } = {}) {
    const caddyfile = options.caddyfile === undefined ? preparedCaddyfile() : options.caddyfile;
    if (caddyfile !== null) this.files.set(CADDYFILE, caddyfile);
  }

  /** Opens a connection, as `Session.open` would. */
  readonly connect: OpenServer = async (_login, app) => {
    this.connections++;
    return new FakeServer(this, app, this.connections);
  };

  // --- what the pipeline sees ------------------------------------------------------------

  stateText(app: string): string | null {
    return this.states.get(app) ?? null;
  }

  state(app: string): State | undefined {
    return parseState(this.stateText(app));
  }

  setState(app: string, state: State | undefined): void {
    if (state === undefined) this.states.delete(app);
    else this.states.set(app, serializeState(state));
  }

  registry(): Registry {
    return parseRegistry(this.registryText);
  }

  setRegistry(registry: Registry): void {
    this.registryText = serializeRegistry(registry);
  }

  /** The releases, staging copies and links of an environment's directory (undefined: none). */
  disk(app: string, environment: string): EnvDisk | undefined {
    return this.disks.get(envDirOf(app, environment));
  }

  // --- rules and failures -----------------------------------------------------------------

  /**
   * Answers matching commands with `reply` (before the defaults, newest rule first); a reply
   * function returning undefined lets the command through. A command answered by a rule has no
   * effect on the fake machine: a failure changes nothing, as the server's scripts restore what
   * they touched.
   */
  on(
    match: Matcher,
    reply: Reply | ((command: CommandContext) => Reply | undefined),
    options: { times?: number } = {},
  ): this {
    this.rules.unshift({
      match,
      reply: typeof reply === 'function' ? reply : () => reply,
      times: options.times ?? Number.POSITIVE_INFINITY,
    });
    return this;
  }

  /** The new instance never answers its health check. */
  failHealthCheck(): this {
    return this.on('health check', (command) => ({
      code: 1,
      stderr: `toss: nothing accepted a connection on 127.0.0.1:${portOf(command.argv)} within 30 s\n`,
    }));
  }

  /** Caddy's validation rejects the site file (the install script's documented exit code). */
  refuseCaddy(
    said = 'Error: adapting config using caddyfile: /etc/caddy/toss/site.caddy:3: unrecognized directive: reverse_prox',
  ): this {
    return this.on('install site', { code: CADDY_INVALID_EXIT, stderr: `${said}\n` });
  }

  /** deployScript exits with `code`, having printed `output`. */
  failBuild(code: number, output = 'npm ERR! build failed'): this {
    return this.on('build', { code, stdout: `${output}\n` });
  }

  /** Runs `run` right before the first command labelled `label` (checked before its lock guard). */
  before(label: string, run: () => void, options: { once?: boolean } = {}): this {
    this.beforeHooks.push({ label, run, once: options.once ?? true });
    return this;
  }

  /**
   * Another run takes the lock right before the first command labelled `label`: that command and
   * every guarded one after it find the lock lost.
   */
  breakLockBefore(label: string, app: string, holder: OtherLock = {}): this {
    return this.before(label, () => this.takeLock(app, holder));
  }

  /** Puts another run's lock into state.json now. */
  takeLock(app: string, holder: OtherLock = {}): Lock {
    const state = this.state(app);
    if (state === undefined) throw new Error(`fake server: ${app} has no state to lock`);
    const lock = otherLock(holder);
    this.setState(app, setLock(state, lock));
    return lock;
  }

  // --- what tests read back ---------------------------------------------------------------

  /** Forgets the calls so far (the machine stays as it is), e.g. between two deploys. */
  reset(): this {
    this.calls.length = 0;
    this.unknown.length = 0;
    return this;
  }

  /** Every command asked for, in order (batches and cleanups flattened). */
  commands(): FakeCommand[] {
    return this.calls.flatMap((call) => call.commands);
  }

  /** The labels of the commands that ran, in order. */
  labels(): string[] {
    return this.ran().map((c) => c.label);
  }

  /** The commands that ran. */
  ran(): FakeCommand[] {
    return this.commands().filter((c) => c.ran);
  }

  /**
   * Every call in order, one line each: a command's label (`(refused)` when the lost lock kept
   * it from running), `state read`, `state update (wrote)`, `registry …`, `read files`, `upload`.
   */
  trace(): string[] {
    return this.calls.flatMap((call) => {
      if (call.kind === 'state' || call.kind === 'registry') {
        return [`${call.kind} ${call.op}${call.wrote ? ' (wrote)' : ''}`];
      }
      if (call.kind === 'read') return ['read files'];
      if (call.kind === 'upload') return [call.ok ? 'upload' : 'upload (failed)'];
      return call.commands.map((c) => (call.refused ? `${c.label} (refused)` : c.label));
    });
  }

  /** The labels of what ran after the last command labelled `label`. */
  labelsAfter(label: string): string[] {
    const labels = this.labels();
    return labels.slice(labels.lastIndexOf(label) + 1);
  }

  /** Commands with this label that ran. */
  find(label: string): FakeCommand[] {
    return this.ran().filter((c) => c.label === label);
  }

  /** Whether state.json names a lock now. */
  lockHolder(app: string): Lock | null {
    return this.state(app)?.lock ?? null;
  }

  // --- the machine (used by FakeServer) ---------------------------------------------------

  /** @internal */
  runHooks(labels: readonly string[]): void {
    for (const hook of [...this.beforeHooks]) {
      if (!labels.includes(hook.label)) continue;
      if (hook.once) this.beforeHooks.splice(this.beforeHooks.indexOf(hook), 1);
      hook.run();
    }
  }

  /** @internal */
  execute(command: FakeCommand): Reply {
    const context: CommandContext = {
      label: command.label,
      argv: command.argv,
      stdin: command.stdin,
      kind: command.kind,
      host: this,
    };
    for (const rule of this.rules) {
      if (rule.times <= 0) continue;
      const matches =
        typeof rule.match === 'string' ? rule.match === command.label : rule.match(context);
      if (!matches) continue;
      const reply = rule.reply(context);
      if (reply === undefined) continue;
      rule.times--;
      return reply;
    }
    return this.defaultReply(command);
  }

  /** @internal */
  upload(params: UploadParams): void {
    if (params.signal?.aborted) throw new Error('rsync: stopped (the deploy gave up)');
    if (params.releaseDir.startsWith(`${INCOMING_DIR}/`)) {
      if (!this.incomingReady) {
        throw new RemoteCommandError('rsync', 11, `rsync: mkdir "${params.releaseDir}" failed`);
      }
      this.incoming.add(params.releaseDir);
      return;
    }
    const disk = this.disks.get(params.releaseDir.replace(/\/releases\/[^/]+$/, ''));
    if (disk === undefined) {
      throw new RemoteCommandError(
        'rsync',
        11,
        `rsync: [Receiver] mkdir "${params.releaseDir}" failed: No such file or directory (2)`,
      );
    }
    disk.staging.add(stagingIdOf(params.releaseDir));
  }

  /** @internal */
  readText(path: string): string | null {
    return this.files.get(path) ?? null;
  }

  /** @internal */
  writeState(app: string, text: string): void {
    this.states.set(app, text);
  }

  /** @internal */
  currentRegistryText(): string | null {
    return this.registryText;
  }

  /** @internal */
  writeRegistry(text: string): void {
    this.registryText = text;
  }

  /**
   * What the server would answer, and what the command changes on it: the releases on disk, the
   * instances that run, the files; the rest only answers.
   */
  private defaultReply(command: FakeCommand): Reply {
    const reply =
      this.changeDisk(command) ??
      this.changeUnits(command) ??
      this.changeFiles(command) ??
      this.answer(command);
    if (reply !== undefined) return reply;
    if (command.label === 'unknown') {
      this.unknown.push(command.argv);
      return {
        code: 127,
        stderr: `fake server: no rule for ${shellJoin(command.argv).slice(0, 200)}\n`,
      };
    }
    return {};
  }

  /** An environment's directory: made, its releases listed, adopted, pointed at, removed. */
  private changeDisk({ label, argv }: FakeCommand): Reply | undefined {
    const args = scriptArgs(argv);
    switch (label) {
      case 'list releases':
        return { stdout: this.listing(args[0]!) };
      case 'prepare directories': {
        const releases = args.find((a) => a.endsWith('/releases'))!;
        const envDir = releases.replace(/\/releases$/, '');
        if (!this.disks.has(envDir)) {
          this.disks.set(envDir, { releases: new Set(), staging: new Set(), links: new Map() });
        }
        return {};
      }
      case 'prepare incoming':
        this.incomingReady = true;
        return {};
      case 'remove incoming':
        this.incoming.delete(argv.at(-1)!);
        return {};
      case 'adopt staging': {
        const [from, to] = argv.slice(-2) as [string, string];
        if (from.startsWith(`${INCOMING_DIR}/`)) {
          const target = this.diskOf(to);
          if (!this.incoming.delete(from) || target === undefined) {
            return { code: 1, stderr: `mv: cannot move '${from}' to '${to}'\n` };
          }
          target.releases.add(basename(to));
          return {};
        }
        const disk = this.diskOf(from);
        if (disk === undefined || !disk.staging.delete(stagingIdOf(from))) {
          return { code: 1, stderr: `mv: cannot stat '${from}': No such file or directory\n` };
        }
        disk.releases.add(basename(to));
        return {};
      }
      case 'point slot':
      case 'switch current': {
        const [target, link] = args as [string, string];
        const name = label === 'point slot' ? basename(link) : 'current';
        this.diskOf(link)?.links.set(name, basename(target));
        return {};
      }
      case 'remove releases': {
        const disk = this.diskOf(args[0]!);
        for (const path of args.slice(1)) {
          if (isReleaseId(basename(path))) disk?.releases.delete(basename(path));
          else this.files.delete(path);
        }
        return {};
      }
      case 'remove staging':
        for (const path of argv.slice(3)) this.diskOf(path)?.staging.delete(stagingIdOf(path));
        return {};
      case 'test env dir':
        return { code: this.disks.has(argv.at(-1)!) ? 0 : 1 };
      default:
        return undefined;
    }
  }

  /** Instances started, stopped, retired, torn down, and the health check that finds them. */
  private changeUnits({ label, argv }: FakeCommand): Reply | undefined {
    const args = scriptArgs(argv);
    switch (label) {
      case 'start instance':
        this.running.add(args[0]!);
        return {};
      case 'stop instance':
        this.running.delete(argv.at(-1)!);
        this.sockets.delete(argv.at(-1)!);
        return {};
      case 'retire old instance':
        // link, its target, then the old instance ('' when there is none)
        if (args[2]) this.running.delete(args[2]);
        return {};
      case 'listen wake':
        this.sockets.add(argv.at(-1)!);
        return {};
      case 'count idle':
        return {};
      case 'unit active':
        return this.sockets.has(argv.at(-1)!) || this.running.has(argv.at(-1)!) ? {} : { code: 3 };
      case 'teardown units': {
        // the slice, the template files up to "--", then the units
        const end = args.indexOf('--');
        for (const file of args.slice(1, end)) this.files.delete(file);
        for (const unit of args.slice(end + 1)) {
          this.running.delete(unit);
          this.sockets.delete(unit);
        }
        return {};
      }
      case 'health check': {
        const unit = /toss-[a-z0-9-]+@\d+\.service/.exec(argv.join(' '))?.[0];
        if (unit !== undefined && this.running.has(unit)) return {};
        return {
          code: 1,
          stderr: `toss: nothing accepted a connection on 127.0.0.1:${portOf(argv)} within 30 s\n`,
        };
      }
      case 'platform':
        return { stdout: `${this.platform}\n` };
      case 'memory':
        // A server with 4 GiB, half of it available, and no cgroup limit.
        return { stdout: 'meminfo MemTotal 4194304\nmeminfo MemAvailable 2097152\n' };
      case 'list ports':
        return {
          stdout: [...this.listening, ...[...this.running].map(portOfUnit)]
            .map((port) => `LISTEN 0 4096 127.0.0.1:${port} 0.0.0.0:*\n`)
            .join(''),
        };
      default:
        return undefined;
    }
  }

  /** Files written from stdin (env files, units, Caddy's), removed with their environment. */
  private changeFiles({ label, argv, stdin }: FakeCommand): Reply | undefined {
    const args = scriptArgs(argv);
    switch (label) {
      case 'write overrides':
      case 'write release env':
      case 'write unit':
      case 'write file': {
        const changed = this.files.get(args[0]!) !== stdin;
        this.files.set(args[0]!, stdin ?? '');
        return { stdout: changed ? 'changed\n' : 'unchanged\n' };
      }
      case 'install unit':
        this.files.set(argv.find((a) => a.endsWith('@.service'))!, stdin ?? '');
        return {};
      case 'install site':
      case 'install Caddyfile':
        this.files.set(args[1]!, stdin ?? '');
        return {};
      case 'remove site':
        this.files.delete(args[1]!);
        return {};
      case 'remove environment': {
        const [envDir, overrides] = args as [string, string];
        this.disks.delete(envDir);
        this.files.delete(overrides);
        for (const path of [...this.files.keys()]) {
          if (path.startsWith(`${envDir}/`)) this.files.delete(path);
        }
        return {};
      }
      default:
        return undefined;
    }
  }

  /** Commands that only answer. */
  private answer({ label, argv }: FakeCommand): Reply | undefined {
    switch (label) {
      case 'site check':
        return { stdout: '200\n' };
      case 'journal':
        return { stdout: 'app: listening\n' };
      case 'systemd state':
        return { stdout: 'running\n' };
      case 'build':
        return { stdout: `building: ${scriptArgs(argv)[0]}\n` };
      case 'dependency':
        // Installing PostgreSQL gives the server one (with no databases yet).
        if (argv.join(' ').includes('apt-get install -y --no-install-recommends postgresql')) {
          this.databases ??= new Set();
        }
        return {};
      case 'ensure postgres':
        return {};
      case 'list databases':
      case 'sql': {
        if (this.databases === undefined) {
          return { code: 1, stderr: 'runuser: user postgres does not exist\n' };
        }
        const vars = psqlVariables(argv);
        if (label === 'sql') {
          // What each run makes or drops, by the variables it is given (see database.ts).
          if (vars.tpl !== undefined && vars.db === undefined) {
            this.databases.add(vars.tpl);
            if (vars.note !== undefined) this.databaseComments.set(vars.tpl, vars.note);
          } else if (vars.db !== undefined && vars.role !== undefined) this.databases.add(vars.db);
          else if (vars.db !== undefined) this.databases.delete(vars.db);
          return {};
        }
        const prefix = vars.prefix ?? '';
        const names = [...this.databases].filter((name) => name.startsWith(prefix));
        const comment = (name: string) => this.databaseComments.get(name) ?? '';
        return { stdout: names.map((name) => `${name}\t${comment(name)}\n`).join('') };
      }
      default:
        return undefined;
    }
  }

  private diskOf(path: string): EnvDisk | undefined {
    const envDir = /^\/srv\/[^/]+\/[^/.][^/]*/.exec(path)?.[0];
    return envDir === undefined ? undefined : this.disks.get(envDir);
  }

  /** listReleasesArgv's output: release ids, staging names, then `link <name> <target>`. */
  private listing(releasesDir: string): string {
    const disk = this.disks.get(releasesDir.replace(/\/releases$/, ''));
    if (disk === undefined) return '';
    const lines = [
      ...[...disk.releases].sort(),
      ...[...disk.staging].sort().map((id) => `${STAGING_PREFIX}${id}`),
      ...[...disk.links].map(([name, id]) =>
        name === 'current' ? `link current releases/${id}` : `link ${name} ../releases/${id}`,
      ),
    ];
    return lines.map((line) => `${line}\n`).join('');
  }
}

/**
 * One connection to the fake host: the `Server` the pipeline gets from `host.connect`. It holds
 * the lock token like the SSH session and checks it the way the session's guarded commands do.
 */
export class FakeServer implements Server {
  private token: string | undefined;
  readonly isRoot = true;

  constructor(
    readonly host: FakeHost,
    readonly app: string,
    readonly connection: number,
  ) {}

  get lockToken(): string | undefined {
    return this.token;
  }

  holdLock(token: string): void {
    this.token = token;
  }

  dropLock(): void {
    this.token = undefined;
  }

  async close(): Promise<void> {
    this.host.closed++;
  }

  async root(argv: readonly string[], options: RootRunOptions = {}): Promise<RunResult> {
    const call = this.record('root', [[...argv]], options.stdin);
    return this.finish(this.runAll(call, { stopOnFailure: true }), call, options);
  }

  async guarded(argv: string[], options: RootRunOptions = {}): Promise<RunResult> {
    return this.guardedCall('guarded', [argv], options);
  }

  async batch(argvs: string[][], options: RootRunOptions = {}): Promise<RunResult> {
    return this.guardedCall('batch', argvs, options);
  }

  async guardedStart(
    argv: string[],
    options: Omit<RunOptions, 'sudo' | 'allowFailure'> = {},
  ): Promise<RunResult> {
    const token = this.requireToken();
    const call = this.record('start', [argv], options.stdin);
    if (!this.holds(token)) {
      call.refused = true;
      throw lockLost();
    }
    const result = this.runAll(call, { stopOnFailure: true });
    if (result.stdout) options.onStdout?.(Buffer.from(result.stdout));
    if (result.stderr) options.onStderr?.(Buffer.from(result.stderr));
    return result;
  }

  async cleanUpAsHolder(argvs: string[][]): Promise<boolean> {
    const token = this.token;
    if (token === undefined) return false;
    if (argvs.length === 0) return true;
    const call = this.record('cleanup', argvs, undefined);
    if (!this.holds(token)) {
      call.refused = true;
      return false;
    }
    this.runAll(call, { stopOnFailure: false });
    return true;
  }

  async readFiles(paths: readonly string[]): Promise<(string | null)[]> {
    this.push({ kind: 'read', connection: this.connection, commands: [], paths: [...paths] });
    return paths.map((path) => this.host.readText(path));
  }

  async upload(params: UploadParams): Promise<void> {
    const call = this.push({
      kind: 'upload',
      connection: this.connection,
      commands: [],
      upload: params,
    });
    this.host.upload(params);
    call.ok = true;
  }

  async readState(): Promise<State | undefined> {
    const state = parseState(this.host.stateText(this.app), this.stateFile);
    this.push({
      kind: 'state',
      connection: this.connection,
      commands: [],
      op: 'read',
      lockAfter: state?.lock?.token ?? null,
      stateAfter: state,
    });
    return state;
  }

  async updateState(change: (state: State | undefined) => State): Promise<State> {
    const call = this.push({
      kind: 'state',
      connection: this.connection,
      commands: [],
      op: 'update',
    });
    const text = this.host.stateText(this.app);
    const current = parseState(text, this.stateFile);
    const next = change(current);
    const content = serializeState(next);
    // As the session's compare-and-swap: an unchanged file is not written again.
    call.wrote = !(text !== null && current !== undefined && content === serializeState(current));
    if (call.wrote) this.host.writeState(this.app, content);
    call.stateAfter = parseState(this.host.stateText(this.app));
    call.lockAfter = call.stateAfter?.lock?.token ?? null;
    return next;
  }

  updateStateAsHolder(change: (state: State) => State): Promise<State> {
    return this.updateState((state) => {
      const token = this.token;
      if (state === undefined || token === undefined || !isOwnLock(state.lock, token)) {
        throw lockLost();
      }
      return change(state);
    });
  }

  async readRegistry(): Promise<Registry> {
    this.push({ kind: 'registry', connection: this.connection, commands: [], op: 'read' });
    return parseRegistry(this.host.currentRegistryText(), REGISTRY_FILE);
  }

  async updateRegistry(change: (registry: Registry) => Registry): Promise<Registry> {
    const call = this.push({
      kind: 'registry',
      connection: this.connection,
      commands: [],
      op: 'update',
    });
    const text = this.host.currentRegistryText();
    const current = parseRegistry(text, REGISTRY_FILE);
    const next = change(current);
    const content = serializeRegistry(next);
    call.wrote = !(text !== null && content === serializeRegistry(current));
    if (call.wrote) this.host.writeRegistry(content);
    return next;
  }

  private get stateFile(): string {
    return appPaths(this.app).stateFile;
  }

  private requireToken(): string {
    if (this.token === undefined) throw new TossError('internal: guarded step without the lock');
    return this.token;
  }

  private holds(token: string): boolean {
    return isOwnLock(this.host.state(this.app)?.lock, token);
  }

  private guardedCall(kind: 'guarded' | 'batch', argvs: string[][], options: RootRunOptions) {
    const token = this.requireToken();
    const call = this.record(kind, argvs, options.stdin);
    if (!this.holds(token)) {
      call.refused = true;
      throw lockLost();
    }
    return this.finish(this.runAll(call, { stopOnFailure: true }), call, options);
  }

  /** Records the call (hooks for its labels run first, so a lock broken now refuses it). */
  private record(kind: CallKind, argvs: string[][], stdin: string | Buffer | undefined): FakeCall {
    const text = stdin === undefined ? undefined : stdin.toString();
    const commands = argvs.flatMap(unwrapBeside).map(
      (argv): FakeCommand => ({
        label: labelOf(argv),
        argv,
        stdin: text,
        ran: false,
        kind,
        connection: this.connection,
      }),
    );
    this.host.runHooks(commands.map((c) => c.label));
    return this.push({ kind, connection: this.connection, commands, stdin: text });
  }

  private push(call: FakeCall): FakeCall {
    this.host.calls.push(call);
    return call;
  }

  /** Runs the call's commands in order: `&&` (a batch) or `;` (a cleanup). */
  private runAll(call: FakeCall, how: { stopOnFailure: boolean }): RunResult {
    let stdout = '';
    let stderr = '';
    let code: number | null = 0;
    for (const command of call.commands) {
      const reply = this.host.execute(command);
      command.ran = true;
      command.code = reply.code ?? 0;
      stdout += reply.stdout ?? '';
      stderr += reply.stderr ?? '';
      code = command.code;
      if (code !== 0 && how.stopOnFailure) break;
    }
    return { stdout, stderr, code, signal: null };
  }

  /** As the connection does: a non-zero exit throws unless allowFailure. */
  private finish(result: RunResult, call: FakeCall, options: RootRunOptions): RunResult {
    if (result.code === 0 || options.allowFailure) return result;
    const failed = call.commands.find((c) => c.ran && c.code !== 0) ?? call.commands[0]!;
    throw new RemoteCommandError(
      shellJoin(failed.argv).slice(0, 200),
      result.code,
      (result.stderr || result.stdout).trim(),
    );
  }
}

/** A Caddyfile as `toss init` leaves it: the private admin socket and the import line. */
export function preparedCaddyfile(): string {
  return `{\n\tadmin ${CADDY_ADMIN_ADDRESS}\n}\n\n:8080 {\n\trespond "other site"\n}\n\n${CADDY_IMPORT_LINE}\n`;
}

/** Another run's lock: by default a fresh production deploy from another machine. */
export function otherLock(holder: OtherLock = {}): Lock {
  return createLock({
    environment: holder.environment ?? 'production',
    token: holder.token ?? 'b'.repeat(32),
    host: 'other-runner',
    machine: OTHER_MACHINE,
    pid: 4242,
    by: holder.by ?? 'mallory',
    now: holder.at ?? new Date(),
    preemptible: holder.preemptible,
  });
}

/**
 * A stretch of commands: in this order (an array), or in any order (`{ any }`: steps that run side
 * by side).
 */
export type Phase = readonly string[] | { readonly any: readonly string[] };

/**
 * Cuts `labels` into the phases' lengths, each unordered phase sorted: compare with
 * `phaseView(phases)` to check every command, and their order wherever the code fixes it.
 */
export function phased(labels: readonly string[], phases: readonly Phase[]): string[][] {
  let at = 0;
  const cut = phases.map((phase) => {
    const list = 'any' in phase ? phase.any : (phase as readonly string[]);
    const part = labels.slice(at, at + list.length);
    at += list.length;
    return 'any' in phase ? [...part].sort() : part;
  });
  return at < labels.length ? [...cut, labels.slice(at)] : cut;
}

/** The phases as `phased` shows them. */
export function phaseView(phases: readonly Phase[]): string[][] {
  return phases.map((phase) =>
    'any' in phase ? [...phase.any].sort() : [...(phase as readonly string[])],
  );
}

/** The labels of a list in the order of `expected`, wherever they appear among the others. */
export function inOrder(actual: readonly string[], expected: readonly string[]): boolean {
  let at = 0;
  for (const label of actual) if (label === expected[at]) at++;
  return at === expected.length;
}

// --- labels -------------------------------------------------------------------------------

/** The command inside `unshare … nosymfollow … "$@"` (no-follow.ts), or the argv itself. */
function unwrapNoFollow(argv: readonly string[]): readonly string[] {
  if (argv[0] !== 'unshare') return argv;
  const script = argv.findIndex((a) => a.includes('nosymfollow'));
  return script === -1 ? argv : argv.slice(script + 2);
}

/**
 * besideArgv's command (quote.ts) as the commands it runs, the background first (the fake runs
 * them one after another); any other argv as it is.
 */
function unwrapBeside(argv: string[]): string[][] {
  const script = scriptOf(argv);
  const start = script.indexOf(BESIDE_START);
  if (argv.length !== 3 || start === -1 || !script.endsWith(BESIDE_END)) return [argv];
  const background = shellWords(script.slice(0, start));
  const chain = shellWords(script.slice(start + BESIDE_START.length, -BESIDE_END.length));
  const commands: string[][] = [[]];
  for (const word of chain) {
    if (word === null) commands.push([]);
    else commands.at(-1)!.push(word);
  }
  return [background.filter((w) => w !== null), ...commands];
}

/** shellJoin's output split into its words again; null for an unquoted `&&` between commands. */
function shellWords(line: string): (string | null)[] {
  const words: (string | null)[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ') {
      i++;
      continue;
    }
    if (line.startsWith('&& ', i)) {
      words.push(null);
      i += 3;
      continue;
    }
    let word = '';
    while (i < line.length && line[i] !== ' ') {
      if (line[i] === "'") {
        const end = line.indexOf("'", i + 1);
        word += line.slice(i + 1, end);
        i = end + 1;
      } else if (line[i] === '\\') {
        word += line[i + 1];
        i += 2;
      } else {
        word += line[i];
        i++;
      }
    }
    words.push(word);
  }
  return words;
}

/** A `sh -c SCRIPT sh ARGS…` command's script, or ''. */
function scriptOf(argv: readonly string[]): string {
  return argv[0] === 'sh' && argv[1] === '-c' ? (argv[2] ?? '') : '';
}

/** The positional arguments of a `sh -c SCRIPT sh ARGS…` command (after no-follow). */
function scriptArgs(argv: readonly string[]): string[] {
  const inner = unwrapNoFollow(argv);
  return scriptOf(inner) ? inner.slice(4) : [...inner];
}

/**
 * What a command does, from its distinctive words: systemctl verbs, the marker words of the
 * server's scripts, the paths it names.
 */
export function labelOf(original: readonly string[]): string {
  const argv = unwrapNoFollow(original);
  const script = scriptOf(argv);
  return script ? scriptLabel(script, argv) : commandLabel(argv);
}

/** A `sh -c SCRIPT` command, by its script's marker words. */
function scriptLabel(script: string, argv: readonly string[]): string {
  const args = scriptArgs(argv);
  const has = (...words: string[]) => words.every((word) => script.includes(word));
  if (has('mkfifo') && argv.includes('systemd-run')) return 'build';
  if (has('useradd')) return 'ensure users';
  if (has('install -d') && args.some((a) => a.endsWith('/preserve'))) return 'prepare directories';
  if (has('daemon-reload') && argv.some((a) => a.includes('.toss-write'))) return 'install unit';
  if (has('.toss-write')) return writeLabel(args[0] ?? '');
  if (has('.toss-own')) return 'seal release';
  if (/\bln -s\b/.test(script) && has('preserve')) return 'link persistent dirs';
  if (has('ln -sfn', 'mv -Tf')) {
    return args[0]?.startsWith('../releases/') ? 'point slot' : 'switch current';
  }
  if (has('did not answer with 2xx') || has('nothing accepted')) return 'health check';
  if (has('--resolve')) return 'site check';
  if (has('sport = :')) return 'port guard';
  if (has('systemctl restart', 'drain')) return 'start instance';
  if (has('start_drain')) return 'retire old instance';
  if (has('caddy validate', 'reload')) return caddyLabel(args);
  if (has('.trash-')) return 'remove releases';
  if (has('WorkingDirectory')) return 'stop run unit';
  if (has('$templates', 'daemon-reload')) return 'teardown units';
  if (has('-printf', 'link %f')) return 'list releases';
  if (has('rm -rf -- "$1"', 'rm -f -- "$2"')) return 'remove environment';
  if (has('uname -m', 'GNU_LIBC_VERSION')) return 'platform';
  if (has('MemAvailable', 'memory.stat')) return 'memory';
  if (has('install -d -m 0700', '-mmin +120')) return 'prepare incoming';
  if (has('pg_createcluster')) return 'ensure postgres';
  return 'unknown';
}

/** psql's `-v name=value` variables of a command (ON_ERROR_STOP aside). */
function psqlVariables(argv: readonly string[]): Record<string, string> {
  const vars: Record<string, string> = {};
  argv.forEach((arg, i) => {
    const value = argv[i + 1];
    if (arg !== '-v' || value === undefined) return;
    const eq = value.indexOf('=');
    vars[value.slice(0, eq)] = value.slice(eq + 1);
  });
  return vars;
}

/** A Caddy change, by its mode and file. */
function caddyLabel([mode, file]: readonly string[]): string {
  if (mode === 'remove') return 'remove site';
  if (mode === 'check') return 'secure Caddy admin';
  return file === CADDYFILE ? 'install Caddyfile' : 'install site';
}

/** A plain command, by its program and verb. */
function commandLabel(argv: readonly string[]): string {
  const [command, verb] = argv;
  const unit = argv.at(-1) ?? '';
  if (command === 'ss') return 'list ports';
  if (command === 'systemd-run') return 'dependency';
  if (command === 'mv' && argv.includes('-T')) return 'adopt staging';
  if (command === 'find' && argv.includes('chown')) return 'open release to app';
  if (command === 'rm' && argv.at(-1)?.startsWith(`${INCOMING_DIR}/`)) return 'remove incoming';
  if (command === 'rm' && argv.some((a) => a.includes(`/${STAGING_PREFIX}`))) {
    return 'remove staging';
  }
  if (command === 'test' && verb === '-e') return 'test env dir';
  if (command === 'runuser' && argv.includes('psql')) {
    const vars = psqlVariables(argv);
    return vars.prefix !== undefined && vars.tpl === undefined ? 'list databases' : 'sql';
  }
  if (command === 'df') return 'disk space';
  if (command === 'journalctl') return argv.includes('caddy') ? 'caddy log' : 'journal';
  if (command === 'systemctl' && verb === 'daemon-reload') return 'daemon reload';
  if (command === 'systemctl' && verb === 'is-system-running') return 'systemd state';
  if (command === 'systemctl' && verb === 'is-active') return 'unit active';
  if (command === 'systemctl' && verb === 'start' && unit.endsWith('.socket')) return 'listen wake';
  if (command === 'systemctl' && verb === 'start' && unit.startsWith('toss-wake-')) {
    return 'count idle';
  }
  if (command === 'systemctl' && verb === 'stop') {
    return unit.endsWith('.timer') ? 'stop drain timer' : 'stop instance';
  }
  return 'unknown';
}

function writeLabel(path: string): string {
  if (path.includes('/secrets/overrides/')) return 'write overrides';
  if (/\/env\/[^/]+\.env$/.test(path)) return 'write release env';
  if (path.endsWith('.service')) return 'write unit';
  return 'write file';
}

function envDirOf(app: string, environment: string): string {
  return `${appPaths(app).appDir}/${environment}`;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function stagingIdOf(path: string): string {
  return basename(path).slice(STAGING_PREFIX.length);
}

function portOfUnit(unit: string): number {
  return Number(/@(\d+)\.service$/.exec(unit)?.[1]);
}

/** The instance port a health check or port guard names. */
function portOf(argv: readonly string[]): number | undefined {
  const match = /@(\d+)\.service/.exec(argv.join(' '));
  return match ? Number(match[1]) : undefined;
}

// --- requests and events --------------------------------------------------------------------

/** A login the fake never dials: an IP address, so no name is looked up either. */
export const LOGIN: Login = { host: '203.0.113.10', port: 22, user: 'root', knownHosts: '' };

export const ACTOR: Actor = { by: 'alice', runUrl: 'https://github.com/octo/shop/actions/runs/1' };

/** toss.json for the tests' app, validated by the real schema. */
export function testConfig(fields: Partial<TossConfigInput> = {}): TossConfig {
  return tossConfigSchema.parse({
    app: 'shop',
    server: 'root@203.0.113.10',
    domain: 'shop.example.com',
    startCommand: 'node server.js',
    deployScript: ['npm ci', 'npm run build'],
    persistentDirs: ['uploads'],
    healthCheck: { path: '/up', timeout: 5 },
    ...fields,
  });
}

/** An event sink that keeps what the pipeline said. */
export function eventLog(): {
  sink: EventSink;
  events: PipelineEvent[];
  /** `start <step>`, `done <step>`, `fail <step>` in order */
  steps(): string[];
  warnings(): string[];
  notices(): string[];
} {
  const events: PipelineEvent[] = [];
  return {
    events,
    sink: (event) => events.push(event),
    steps: () =>
      events.flatMap((e) =>
        e.type === 'step-start'
          ? [`start ${e.step}`]
          : e.type === 'step-done'
            ? [`done ${e.step}`]
            : e.type === 'step-fail'
              ? [`fail ${e.step}`]
              : [],
      ),
    warnings: () => events.flatMap((e) => (e.type === 'warning' ? [e.message] : [])),
    notices: () => events.flatMap((e) => (e.type === 'notice' ? [e.message] : [])),
  };
}
