/**
 * The files `toss init` writes into the repository, as pure functions of the answers: toss.json
 * (merged over an existing one, so fields the wizard does not ask about survive) and the GitHub
 * workflow the README documents.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the workflow's ${{ }} are GitHub expressions
import { SCHEMA_ID } from './json-schema.js';
import { parseConfig } from './load.js';

/** What the wizard asks; everything else in toss.json is kept as it was. */
export interface InitAnswers {
  server: string;
  app: string;
  /** production host name; undefined: sslip.io names */
  domain?: string | undefined;
  startCommand: string;
  deployScript: string[];
}

const ASKED = ['$schema', 'app', 'server', 'domain', 'startCommand', 'deployScript'];

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
    deployScript: answers.deployScript,
  };
  for (const [key, value] of Object.entries(existing)) {
    if (!ASKED.includes(key)) config[key] = value;
  }
  parseConfig(config, 'toss.json');
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** Reads an existing toss.json leniently (as defaults); anything unusable counts as absent. */
export function parseExistingConfig(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  try {
    const json: unknown = JSON.parse(text.replace(/^\uFEFF/, ''));
    return typeof json === 'object' && json !== null && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
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
}

/**
 * `.github/workflows/toss.yml`, as README "Deploy from GitHub Actions" shows it: production on
 * push to the default branch, a preview per pull request (removed when it closes), a daily sweep,
 * one run at a time per PR/branch, least permissions.
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

/** The `secrets` input that passes the PRODUCTION_ENV secret on pushes to the default branch only. */
function productionSecrets(defaultBranch: string): string {
  const ref = `refs/heads/${defaultBranch}`.replace(/'/g, "''");
  const expression = `\${{ github.event_name == 'push' && github.ref == '${ref}' && secrets.PRODUCTION_ENV || '' }}`;
  return /^[A-Za-z0-9._/-]*$/.test(defaultBranch) ? expression : JSON.stringify(expression);
}
