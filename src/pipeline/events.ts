/** What the pipeline tells its door while it works; the CLI prints it, the action groups it. */
export type StepName =
  | 'cache-restore'
  | 'build'
  | 'cache-save'
  | 'connect'
  | 'origin'
  | 'compare'
  | 'lock'
  | 'dependencies'
  | 'platform'
  | 'names'
  | 'upload'
  | 'prepare'
  | 'database'
  | 'deploy-script'
  | 'start'
  | 'health'
  | 'route'
  | 'route-back'
  | 'switch'
  | 'confirm'
  | 'sleep'
  | 'prune'
  | 'remove'
  | 'server-check'
  | 'packages'
  | 'caddy'
  | 'app-setup';

export const STEP_LABELS: Record<StepName, string> = {
  'cache-restore': 'Restore build cache',
  build: 'Build',
  'cache-save': 'Save build cache',
  connect: 'Connect',
  origin: 'Verify origin',
  compare: 'Compare with the live release',
  lock: 'Acquire lock',
  dependencies: 'Server dependencies',
  platform: 'Check native code against the server',
  names: 'Claim names and ports',
  upload: 'Upload files',
  prepare: 'Prepare release',
  database: 'Database',
  'deploy-script': 'Run deployScript',
  start: 'Start new release',
  health: 'Health check',
  route: 'Route traffic (Caddy)',
  'route-back': 'Route back to the previous release',
  switch: 'Switch current',
  confirm: 'Confirm over HTTPS',
  sleep: 'Back to sleep',
  prune: 'Prune old releases',
  remove: 'Remove environment',
  'server-check': 'Check server (OS, sudo)',
  packages: 'Install packages (Caddy, rsync)',
  caddy: 'Configure Caddy',
  'app-setup': 'Create app users and directories',
};

export type PipelineEvent = (
  | { type: 'step-start'; step: StepName }
  | { type: 'step-done'; step: StepName; ms: number; detail?: string }
  | { type: 'step-fail'; step: StepName; ms: number; error: unknown }
  | { type: 'output'; step: StepName; line: string }
  | { type: 'notice'; message: string }
  /**
   * Secret values the run learned (server-held secrets and overrides, the run's own overrides),
   * sent before any build or journal output: a door that prints to a shared log masks them.
   */
  | { type: 'secrets'; values: string[] }
  | { type: 'warning'; message: string }
) & {
  /** the server it happened on, when production runs on several (fleet.ts) */
  server?: string | undefined;
};

export type EventSink = (event: PipelineEvent) => void;

/** The `secrets` event for these values (an empty one masks nothing and is left out). */
export function secretsEvent(...sources: Iterable<string>[]): PipelineEvent {
  return {
    type: 'secrets',
    values: sources.flatMap((values) => [...values]).filter((v) => v !== ''),
  };
}
