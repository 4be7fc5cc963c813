/**
 * What `toss init` decides before it touches the server: the answers (flags, questions, defaults
 * from toss.json and package.json) and the files they make. Loaded only when init runs.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ENV_NAME_PATTERN } from '../config/env-name.js';
import {
  type BuildPlace,
  buildConfigText,
  buildWorkflowText,
  commandList,
  defaultBuildPlace,
  defaultCommands,
  type InitAnswers,
  type ProjectCommands,
  parseExistingConfig,
  projectCommands,
  runnerNeedsNode,
  type WorkflowOptions,
} from '../config/init-files.js';
import { parseConfigText } from '../config/load.js';
import { HOST_NAME, type TossConfig } from '../config/schema.js';
import { serverProblem } from '../config/server.js';
import { TossError, UsageError } from '../errors.js';
import { serverAddress } from '../pipeline/health.js';
import type { InitResult } from '../pipeline/init.js';
import { readIfExists } from '../remote/local-file.js';
import type { SshTarget } from '../remote/ssh-target.js';
import { loginFrom } from './context.js';
import { git } from './git.js';
import type { SummaryInput } from './init-summary.js';
import type { Prompter } from './prompter.js';

export interface InitOptions {
  server?: string;
  app?: string;
  domain?: string;
  start?: string;
  buildOn?: BuildPlace;
  build: string[];
  deployScript: string[];
  identity?: string;
  hostKey?: string;
  force?: boolean;
  yes?: boolean;
  config: string;
}

const problems = {
  server: (v: string) => (v ? serverProblem(v) : 'the server is required (like root@203.0.113.10)'),
  app: (v: string) =>
    v.length <= 40 && ENV_NAME_PATTERN.test(v)
      ? undefined
      : 'expected lowercase letters, digits and single dashes, starting with a letter, at most 40 characters',
  domain: (v: string) =>
    v === '' || HOST_NAME.test(v) ? undefined : 'expected a lowercase host name like myapp.com',
  start: (v: string) => (v.trim() ? undefined : 'the start command is required'),
};

/** An app name from the repository's directory name: `My_App` → `my-app`. */
function appFromDir(dir: string): string {
  const slug = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return slug || 'app';
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/**
 * The directory deploys upload and builds run in: toss.json's `root` below its own directory, when
 * the existing file names a usable one.
 */
function sourceDirOf(projectDir: string, existing: Record<string, unknown>): string {
  const root = str(existing.root);
  const usable = root && !isAbsolute(root) && !root.split(/[\\/]/).includes('..');
  return usable ? join(projectDir, root) : projectDir;
}

/** What package.json in the source directory suggests, as defaults to confirm. */
async function guessCommands(sourceDir: string): Promise<ProjectCommands> {
  const packageJson = await readIfExists(join(sourceDir, 'package.json'));
  const lockfile = await readIfExists(join(sourceDir, 'package-lock.json'));
  return projectCommands(packageJson, lockfile !== undefined);
}

/**
 * The Node version file the runner's setup-node should read, as a path from the repository root:
 * .nvmrc or .node-version in the source directory, toss.json's directory or the repository root.
 */
async function nodeVersionFile(
  dirs: readonly string[],
  repoRoot: string,
): Promise<string | undefined> {
  for (const dir of new Set(dirs)) {
    for (const name of ['.nvmrc', '.node-version']) {
      const path = join(dir, name);
      const text = await readIfExists(path);
      if (text?.trim()) return relative(repoRoot, path).split(sep).join('/');
    }
  }
  return undefined;
}

export type FileOutcome = 'created' | 'overwritten' | 'unchanged' | 'kept';

export interface PlannedFile {
  path: string;
  shown: string;
  text: string;
  outcome: FileOutcome;
}

/** Decides per file before anything changes: existing different files need a yes or --force. */
async function planFile(
  path: string,
  shown: string,
  text: string,
  options: InitOptions,
  prompter: Prompter | undefined,
): Promise<PlannedFile> {
  const current = await readIfExists(path);
  const plan = (outcome: FileOutcome) => ({ path, shown, text, outcome });
  if (current === undefined) return plan('created');
  if (current === text) return plan('unchanged');
  if (options.force) return plan('overwritten');
  if (prompter) {
    const overwrite = await prompter.confirm(
      `${shown} exists with other content. Overwrite it?`,
      false,
    );
    return plan(overwrite ? 'overwritten' : 'kept');
  }
  throw new UsageError(`${shown} already exists with other content; nothing was changed`, {
    hint: `pass --force to overwrite it, or run toss init without --yes to be asked`,
  });
}

async function ask(
  prompter: Prompter | undefined,
  flag: string | undefined,
  question: { message: string; defaultValue?: string | undefined; placeholder?: string },
  validate: (v: string) => string | undefined,
): Promise<string | undefined> {
  if (flag !== undefined || prompter === undefined) return flag ?? question.defaultValue;
  return prompter.text({ ...question, validate });
}

/** How a list of commands is asked for. */
interface CommandsQuestion {
  first: string;
  next: string;
  placeholder?: string | undefined;
  /** whether at least one command is needed */
  required: boolean;
}

/** A list of commands, one question each: the flag's when given, else typed (defaults offered). */
async function askCommands(
  prompter: Prompter | undefined,
  flag: string[],
  defaults: string[] | undefined,
  question: CommandsQuestion,
): Promise<string[] | undefined> {
  if (flag.length > 0 || prompter === undefined) return flag.length > 0 ? flag : defaults;
  const commands: string[] = [];
  for (;;) {
    const first = commands.length === 0;
    const answer = await prompter.text({
      message: first ? question.first : question.next,
      defaultValue: defaults?.[commands.length],
      placeholder: first ? question.placeholder : undefined,
      validate: (v) =>
        first && question.required && !v.trim() ? 'at least one command is required' : undefined,
    });
    if (!answer.trim()) return commands;
    commands.push(answer.trim());
  }
}

/** The answers, then the files they make: everything decided before the server is touched. */
export async function planInit(
  options: InitOptions,
  prompter: Prompter | undefined,
): Promise<{ projectDir: string; repo: Repository; files: [PlannedFile, PlannedFile] }> {
  const configPath = resolve(options.config);
  const projectDir = dirname(configPath);
  const repo = await readRepository(projectDir);
  const existing = parseExistingConfig(await readIfExists(configPath));
  const sourceDir = sourceDirOf(projectDir, existing);
  const project = await guessCommands(sourceDir);
  const answers = checkAnswers(
    await askQuestions(prompter, options, { existing, project, repoRoot: repo.root }),
  );
  const setupNode = runnerNeedsNode(answers, project)
    ? { versionFile: await nodeVersionFile([sourceDir, projectDir, repo.root], repo.root) }
    : undefined;
  const configText = buildConfigText(answers, existing);
  const files = await planFiles(
    { configPath, projectDir, repo, configText, setupNode },
    options,
    prompter,
  );
  return { projectDir, repo, files };
}

/** What the server is provisioned for: the toss.json that will be in effect. */
export async function configInEffect(configFile: PlannedFile): Promise<TossConfig> {
  const text =
    configFile.outcome === 'kept'
      ? ((await readIfExists(configFile.path)) as string)
      : configFile.text;
  return parseConfigText(text, configFile.shown);
}

export async function summaryOf(
  config: TossConfig,
  ssh: SshTarget,
  result: InitResult,
  recordedKey: boolean,
  files: readonly PlannedFile[],
): Promise<SummaryInput> {
  const login = loginFrom(ssh);
  return {
    app: config.app,
    domain: config.domain,
    previewDomain: config.previewDomain,
    serverIp: await serverAddress(login.host),
    knownHostsLine: result.hostKey.line,
    knownHostsFile: ssh.knownHostsFile,
    recordedKey,
    identityFile: ssh.identityFile,
    loginTarget: `${login.user}@${login.host}${login.port === 22 ? '' : `:${login.port}`}`,
    serverChanges: result.changes,
    files: files.map((f) => ({ path: f.shown, outcome: f.outcome })),
  };
}

interface Repository {
  /** the origin remote's URL */
  origin: string;
  /** the checkout's top directory */
  root: string;
  /** the branch pushes deploy production from */
  defaultBranch: string;
}

/** The repository toss.json lives in: it must be a clone, with an origin remote. */
async function readRepository(projectDir: string): Promise<Repository> {
  const origin = await git(projectDir, ['remote', 'get-url', 'origin']);
  if (!origin) {
    throw new TossError(`${projectDir} is not a git checkout with an "origin" remote`, {
      hint: 'toss records the repository an app is deployed from: run init in a clone (git remote add origin URL)',
    });
  }
  const root = (await git(projectDir, ['rev-parse', '--show-toplevel'])) ?? projectDir;
  const defaultBranch =
    (await git(projectDir, ['symbolic-ref', '--short', 'refs/remotes/origin/HEAD']))?.replace(
      /^origin\//,
      '',
    ) ??
    (await git(projectDir, ['symbolic-ref', '--short', '-q', 'HEAD'])) ??
    'main';
  return { origin, root, defaultBranch };
}

/** The answers as given: flags first, then questions (defaults from toss.json or guesses). */
interface RawAnswers {
  server: string | undefined;
  app: string | undefined;
  domain: string | undefined;
  startCommand: string | undefined;
  place: BuildPlace;
  build: string[] | undefined;
  deployScript: string[] | undefined;
}

/** What the defaults come from: the existing toss.json, package.json and the repository. */
interface AnswerSources {
  existing: Record<string, unknown>;
  project: ProjectCommands;
  repoRoot: string;
}

async function askQuestions(
  prompter: Prompter | undefined,
  options: InitOptions,
  sources: AnswerSources,
): Promise<RawAnswers> {
  prompter?.intro('toss init');
  const basics = await askBasics(prompter, options, sources);
  return { ...basics, ...(await askBuild(prompter, options, sources)) };
}

/** The server, the app's name, its domain and how it starts. */
async function askBasics(
  prompter: Prompter | undefined,
  options: InitOptions,
  { existing, project, repoRoot }: AnswerSources,
): Promise<Pick<RawAnswers, 'server' | 'app' | 'domain' | 'startCommand'>> {
  const server = await ask(
    prompter,
    options.server,
    {
      message: 'Server (SSH target: user@host[:port] or a ~/.ssh/config alias)',
      defaultValue: str(existing.server),
      placeholder: 'root@203.0.113.10',
    },
    problems.server,
  );
  const app = await ask(
    prompter,
    options.app,
    { message: 'App name', defaultValue: str(existing.app) ?? appFromDir(repoRoot) },
    problems.app,
  );
  const domain = await ask(
    prompter,
    options.domain,
    {
      message: 'Domain for production (empty: <env>.<app>.<ip>.sslip.io names)',
      defaultValue: str(existing.domain),
      placeholder: 'myapp.com',
    },
    problems.domain,
  );
  const startCommand = await ask(
    prompter,
    options.start,
    {
      message: 'Start command (must listen on $PORT)',
      defaultValue: str(existing.startCommand) ?? project.start,
      placeholder: 'node server.js',
    },
    problems.start,
  );
  return { server, app, domain, startCommand };
}

const SERVER_BUILD: CommandsQuestion = {
  first: 'Deploy script: first command run in each new release (install, build)',
  next: 'Next deploy command (empty to finish)',
  placeholder: 'npm ci',
  required: true,
};
const RUNNER_BUILD: CommandsQuestion = {
  first: 'Build: first command run where toss runs, before the upload (install, build)',
  next: 'Next build command (empty to finish)',
  placeholder: 'npm ci',
  required: true,
};
const AFTER_UPLOAD: CommandsQuestion = {
  first:
    'Deploy script: first command run on the server after the upload (migrations; empty for none)',
  next: 'Next deploy command (empty to finish)',
  required: false,
};

/** Where the app is built, then the commands for that place (and, after a runner build, the server's). */
async function askBuild(
  prompter: Prompter | undefined,
  options: InitOptions,
  { existing, project }: AnswerSources,
): Promise<Pick<RawAnswers, 'place' | 'build' | 'deployScript'>> {
  const suggested = defaultBuildPlace(existing, project);
  const place = await askPlace(prompter, placeFromFlags(options, existing), suggested);
  const defaults = defaultCommands(place, existing, project);
  if (place === 'server') {
    const deployScript = await askCommands(
      prompter,
      options.deployScript,
      defaults.deployScript,
      SERVER_BUILD,
    );
    return { place, build: undefined, deployScript };
  }
  const build = await askCommands(prompter, options.build, defaults.build, RUNNER_BUILD);
  const deployScript = await askCommands(
    prompter,
    options.deployScript,
    defaults.deployScript,
    AFTER_UPLOAD,
  );
  return { place, build, deployScript };
}

/**
 * The place the flags name or imply: --build means the runner; --deploy-script alone means the
 * server, unless toss.json builds on the runner already (then it is what runs after the upload).
 */
function placeFromFlags(
  options: InitOptions,
  existing: Record<string, unknown>,
): BuildPlace | undefined {
  if (options.buildOn === 'server' && options.build.length > 0) {
    throw new UsageError('--build runs commands where toss runs, not with --build-on server', {
      hint: 'pass the commands the server runs with --deploy-script, or build on the runner with --build-on runner',
    });
  }
  if (options.buildOn) return options.buildOn;
  if (options.build.length > 0) return 'runner';
  if (options.deployScript.length === 0) return undefined;
  return commandList(existing.build) ? 'runner' : 'server';
}

async function askPlace(
  prompter: Prompter | undefined,
  fromFlags: BuildPlace | undefined,
  suggested: BuildPlace,
): Promise<BuildPlace> {
  if (fromFlags !== undefined || prompter === undefined) return fromFlags ?? suggested;
  const onRunner = await prompter.confirm(
    'Build on the CI runner (or this machine, when you deploy from it)? Recommended: the server then needs no toolchain; native modules must match its architecture and glibc. No: build on the server',
    suggested === 'runner',
  );
  return onRunner ? 'runner' : 'server';
}

/** Refuses answers missing or malformed (flags are not validated as questions are). */
function checkAnswers(raw: RawAnswers): InitAnswers {
  const { server, app, domain, startCommand, place, build, deployScript } = raw;
  const missing = [
    server ? undefined : '--server',
    startCommand ? undefined : '--start',
    place === 'runner' && !build?.length ? '--build' : undefined,
    place === 'server' && !deployScript?.length ? '--deploy-script' : undefined,
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new UsageError(
      `toss init --yes needs ${missing.join(', ')} (no toss.json to take them from)`,
      {
        hint: 'example: toss init --yes --server root@203.0.113.10 --app myapp --start "node dist/server.js" --build "npm ci" --build "npm run build" (or --deploy-script "npm ci" to build on the server)',
      },
    );
  }
  for (const [name, value] of [
    ['--server', server],
    ['--app', app],
    ['--domain', domain ?? ''],
  ] as const) {
    const key = name.slice(2) as 'server' | 'app' | 'domain';
    const problem = problems[key](value ?? '');
    if (problem) throw new UsageError(`${name}: ${problem}, got ${JSON.stringify(value)}`);
  }
  return {
    server: server as string,
    app: app as string,
    domain: domain || undefined,
    startCommand: startCommand as string,
    build: place === 'runner' ? build : undefined,
    deployScript: deployScript ?? [],
  };
}

/** toss.json, then the workflow: each decided before anything is written. */
async function planFiles(
  where: {
    configPath: string;
    projectDir: string;
    repo: Repository;
    configText: string;
    setupNode: WorkflowOptions['setupNode'];
  },
  options: InitOptions,
  prompter: Prompter | undefined,
): Promise<[PlannedFile, PlannedFile]> {
  const { configPath, projectDir, repo } = where;
  const workflowPath = join(repo.root, '.github', 'workflows', 'toss.yml');
  const shown = (p: string) => relative(process.cwd(), p) || p;
  const workflowText = buildWorkflowText({
    defaultBranch: repo.defaultBranch,
    workingDirectory: relative(repo.root, projectDir) || '.',
    setupNode: where.setupNode,
  });
  return [
    await planFile(configPath, shown(configPath), where.configText, options, prompter),
    await planFile(workflowPath, shown(workflowPath), workflowText, options, prompter),
  ];
}

export async function writePlannedFiles(files: readonly PlannedFile[]): Promise<void> {
  for (const file of files) {
    if (file.outcome === 'created' || file.outcome === 'overwritten') {
      await mkdir(dirname(file.path), { recursive: true });
      await writeFile(file.path, file.text);
    }
  }
}
