/**
 * The files `toss init` writes into the repository, as pure functions of the answers: toss.json
 * (merged over an existing one, so fields the wizard does not ask about survive) and the GitHub
 * workflow the README documents.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the workflow's ${{ }} are GitHub expressions
import { SCHEMA_ID } from './json-schema.js';
import { jsonObjectOf, withoutByteOrderMark } from './json-text.js';
import { parseConfig } from './load.js';

/** Where the app is built: on the machine running toss (`build`) or on the server (`deployScript`). */
export type BuildPlace = 'runner' | 'server';

/** What the wizard asks; everything else in toss.json is kept as it was. */
export interface InitAnswers {
  server: string;
  app: string;
  /** production host name; undefined: sslip.io names */
  domain?: string | undefined;
  startCommand: string;
  /** commands run where toss runs, before the upload; undefined or empty: none (the server builds) */
  build?: string[] | undefined;
  /** commands run on the server after the upload; empty: none (left out of toss.json) */
  deployScript: string[];
}

const ASKED = ['$schema', 'app', 'server', 'domain', 'startCommand', 'build', 'deployScript'];

/**
 * toss.json text: `$schema` and the answers first, then the existing file's other fields in their
 * order. Validated against the schema, so init never writes a file deploy would refuse.
 */
export function buildConfigText(
  answers: InitAnswers,
  existing: Record<string, unknown> = {},
): string {
  const config: Record<string, unknown> = {
    $schema: SCHEMA_ID,
    app: answers.app,
    server: answers.server,
    ...(answers.domain ? { domain: answers.domain } : {}),
    startCommand: answers.startCommand,
    ...(answers.build?.length ? { build: answers.build } : {}),
    ...(answers.deployScript.length > 0 ? { deployScript: answers.deployScript } : {}),
  };
  for (const [key, value] of Object.entries(existing)) {
    if (!ASKED.includes(key)) config[key] = value;
  }
  parseConfig(config, 'toss.json');
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** What the project's package.json says about running and building it: defaults to confirm. */
export interface ProjectCommands {
  start?: string | undefined;
  /** deployScript for a build on the server: install, then build */
  serverScript?: string[] | undefined;
  /** build for a build on the runner: install, build, then keep only the runtime dependencies */
  runnerBuild?: string[] | undefined;
  /** whether there is something to install or build: a lockfile or a build script */
  hasBuildStep: boolean;
  /** whether the project is a Node one (a build on the runner needs Node there) */
  usesNode: boolean;
}

/**
 * The commands package.json implies. On the runner, dev dependencies are pruned after the build so
 * only what the app runs with is uploaded. A start script that is a plain `node …` command is
 * offered as it is, since a server that receives built files may have Node without npm.
 */
export function projectCommands(
  packageJson: string | undefined,
  hasLockfile: boolean,
): ProjectCommands {
  const scripts = packageScripts(packageJson);
  if (scripts === undefined) return { hasBuildStep: false, usesNode: false };
  const install = hasLockfile ? 'npm ci' : 'npm install';
  const hasBuild = typeof scripts.build === 'string';
  const start = typeof scripts.start === 'string' ? scripts.start.trim() : undefined;
  return {
    start: start ? (/^node\s[^\p{Cc}]*$/u.test(start) ? start : 'npm start') : undefined,
    serverScript: hasBuild ? [install, 'npm run build'] : [install],
    runnerBuild: hasBuild
      ? [install, 'npm run build', 'npm prune --omit=dev']
      : [`${install} --omit=dev`],
    hasBuildStep: hasLockfile || hasBuild,
    usesNode: true,
  };
}

/** package.json's scripts ({} without any); undefined without a readable package.json. */
function packageScripts(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const pkg: unknown = JSON.parse(withoutByteOrderMark(text));
    if (typeof pkg !== 'object' || pkg === null) return undefined;
    const scripts = (pkg as { scripts?: unknown }).scripts;
    return typeof scripts === 'object' && scripts !== null
      ? (scripts as Record<string, unknown>)
      : {};
  } catch {
    return undefined;
  }
}

/** A non-empty list of non-empty strings, as toss.json's command lists are; else undefined. */
export function commandList(value: unknown): string[] | undefined {
  return Array.isArray(value) &&
    value.length > 0 &&
    value.every((x) => typeof x === 'string' && x.trim() !== '')
    ? (value as string[])
    : undefined;
}

/**
 * Where init suggests building: where the existing toss.json builds (`build` means the runner,
 * only `deployScript` the server); for a new one, the runner when there is something to install or
 * build (a lockfile or a build script), else the server.
 */
export function defaultBuildPlace(
  existing: Record<string, unknown>,
  project: ProjectCommands,
): BuildPlace {
  if (commandList(existing.build)) return 'runner';
  if (commandList(existing.deployScript)) return 'server';
  return project.hasBuildStep ? 'runner' : 'server';
}

/**
 * The commands init offers for a place: the existing toss.json's when it builds there already,
 * else the guesses. Moving a runner build to the server offers its commands followed by the
 * deployScript; moving a server build to the runner offers no deployScript, since the old one
 * built what now arrives built.
 */
export function defaultCommands(
  place: BuildPlace,
  existing: Record<string, unknown>,
  project: ProjectCommands,
): { build?: string[] | undefined; deployScript?: string[] | undefined } {
  const build = commandList(existing.build);
  const deployScript = commandList(existing.deployScript);
  if (place === 'runner') {
    return { build: build ?? project.runnerBuild, deployScript: build ? deployScript : undefined };
  }
  return {
    deployScript: build
      ? [...build, ...(deployScript ?? [])]
      : (deployScript ?? project.serverScript),
  };
}

/**
 * Whether the workflow must install Node on the runner: toss.json builds there, and the project is
 * a Node one or the build runs npm, node or their kin.
 */
export function runnerNeedsNode(
  answers: Pick<InitAnswers, 'build'>,
  project: ProjectCommands,
): boolean {
  const build = answers.build ?? [];
  if (build.length === 0) return false;
  return project.usesNode || build.some((c) => /^\s*(?:npm|npx|node|yarn|pnpm|corepack)\s/.test(c));
}

/** Reads an existing toss.json leniently (as defaults); anything unusable counts as absent. */
export function parseExistingConfig(text: string | undefined): Record<string, unknown> {
  return (text === undefined ? undefined : jsonObjectOf(text)) ?? {};
}

/** A YAML plain scalar when it is one, else a double-quoted (JSON) string, which YAML reads alike. */
function yamlScalar(value: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(value) ? value : JSON.stringify(value);
}

export interface WorkflowOptions {
  /** the repository's default branch: pushes to it deploy production */
  defaultBranch: string;
  /** toss.json's directory relative to the repository root; '.' or undefined at the root */
  workingDirectory?: string | undefined;
  /**
   * Set when toss.json's build runs on the runner and needs Node: the job installs it first, in
   * the version the file names (a path from the repository root, like ".nvmrc") or else the
   * latest LTS.
   */
  setupNode?: { versionFile?: string | undefined } | undefined;
}

/**
 * `.github/workflows/toss.yml`, as README "Deploy from GitHub Actions" shows it: production on
 * push to the default branch, a preview per pull request (removed when it closes), a daily sweep,
 * one run at a time per PR/branch, least permissions; builds on the runner get their toolchain.
 */
export function buildWorkflowText(options: WorkflowOptions): string {
  const dir = options.workingDirectory;
  const withDir = dir && dir !== '.' ? [`          working-directory: ${yamlScalar(dir)}`] : [];
  return [
    '# .github/workflows/toss.yml',
    'name: deploy',
    'on:',
    '  push:',
    `    branches: [${yamlScalar(options.defaultBranch)}]`,
    '  pull_request:',
    '    types: [opened, synchronize, reopened, closed]',
    '  schedule:',
    '    - cron: "17 4 * * *" # removes previews of pull requests closed while no run saw it',
    '  workflow_dispatch:',
    '    inputs:',
    '      environment:',
    '        description: environment to deploy',
    '        required: false',
    'concurrency:',
    '  group: toss-${{ github.event.pull_request.number || github.ref }}',
    '  cancel-in-progress: false',
    'permissions:',
    '  contents: read',
    '  pull-requests: write',
    '  deployments: write',
    'jobs:',
    '  deploy:',
    '    runs-on: ubuntu-latest',
    '    steps:',
    '      - uses: actions/checkout@v4',
    ...toolchainSteps(options),
    '      - uses: toss/deploy@v1',
    '        with:',
    '          ssh-key: ${{ secrets.TOSS_SSH_KEY }}',
    '          known-hosts: ${{ secrets.TOSS_KNOWN_HOSTS }}',
    '          environment: ${{ inputs.environment }}',
    ...withDir,
    '          # App secrets become overrides of the environment deployed. A preview runs the pull',
    "          # request's code: production's values go to production's runs only, and previews",
    '          # get theirs from the server (toss secrets push preview --file .env.preview).',
    `          # secrets: ${productionSecrets(options.defaultBranch)}`,
    '',
  ].join('\n');
}

/** The steps that install what toss.json's build needs on the runner: Node, for now. */
function toolchainSteps(options: WorkflowOptions): string[] {
  if (!options.setupNode) return [];
  const file = options.setupNode.versionFile;
  const version = file
    ? [`          node-version-file: ${yamlScalar(file)}`]
    : [
        '          # A native module built here may need the Node major the server runs: name it',
        '          # in .nvmrc and read it with node-version-file: .nvmrc instead.',
        '          node-version: "lts/*"',
      ];
  return [
    '      - uses: actions/setup-node@v4 # for the build in toss.json',
    '        with:',
    ...version,
  ];
}

/** The `secrets` input that passes the PRODUCTION_ENV secret on pushes to the default branch only. */
function productionSecrets(defaultBranch: string): string {
  const ref = `refs/heads/${defaultBranch}`.replace(/'/g, "''");
  const expression = `\${{ github.event_name == 'push' && github.ref == '${ref}' && secrets.PRODUCTION_ENV || '' }}`;
  return /^[A-Za-z0-9._/-]*$/.test(defaultBranch) ? expression : JSON.stringify(expression);
}
