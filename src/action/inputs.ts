import * as core from '@actions/core';
import { z } from 'zod';
import { ConfigError } from '../errors.js';

/** Input names exactly as action.yml spells them; nothing else reads inputs. */
export const Input = {
  SshKey: 'ssh-key',
  KnownHosts: 'known-hosts',
  Server: 'server',
  Environment: 'environment',
  Config: 'config',
  WorkingDirectory: 'working-directory',
  GithubToken: 'github-token',
  Comment: 'comment',
  Deployment: 'deployment',
  Secrets: 'secrets',
  LockWait: 'lock-wait',
  Command: 'command',
  Force: 'force',
} as const;

const bool = (name: string) =>
  z
    .enum(['true', 'false'], { error: `${name}: expected true or false` })
    .transform((v) => v === 'true');

const schema = z.object({
  /** private key (OpenSSH/PEM) that logs in to the server; optional so skipped runs never need it */
  sshKey: z.string(),
  /** the server's host key line(s), as ssh-keyscan prints them */
  knownHosts: z.string(),
  /** overrides toss.json's server */
  server: z.string(),
  /** overrides resolution from the event */
  environment: z.string(),
  /** path of toss.json, relative to working-directory */
  config: z.string().min(1, 'config: expected a path'),
  /** directory holding the app */
  workingDirectory: z.string().min(1, 'working-directory: expected a path'),
  /** token for PR comments, deployments and the sweep */
  githubToken: z.string(),
  /** keep a sticky PR comment */
  comment: bool('comment'),
  /** record GitHub Deployments */
  deployment: bool('deployment'),
  /** dotenv text stored as overrides for this environment */
  secrets: z.string(),
  /** seconds to wait for another deploy's lock */
  lockWait: z
    .string()
    .regex(/^\d+$/, 'lock-wait: expected a whole number of seconds')
    .transform(Number),
  /** deploy even when nothing changed since the live release */
  force: bool('force'),
  /** what to do: resolve from the event, or force one */
  command: z.enum(['auto', 'deploy', 'remove', 'sweep'], {
    error: 'command: expected auto, deploy, remove or sweep',
  }),
});

export type ActionInputs = z.infer<typeof schema>;

/** Defaults as action.yml declares them; the runner passes them, local runs may not. */
export const INPUT_DEFAULTS: Record<string, string> = {
  [Input.Config]: 'toss.json',
  [Input.WorkingDirectory]: '.',
  [Input.Comment]: 'true',
  [Input.Deployment]: 'true',
  [Input.LockWait]: '600',
  [Input.Command]: 'auto',
  [Input.Force]: 'false',
};

/** Reads and validates every input once; the key and secret values are masked first. */
export function readInputs(get: (name: string) => string = (n) => core.getInput(n)): ActionInputs {
  const raw = (name: string) => {
    const value = get(name);
    return value === '' ? (INPUT_DEFAULTS[name] ?? '') : value;
  };
  const sshKey = raw(Input.SshKey);
  if (sshKey) {
    core.setSecret(sshKey);
    // The runner masks line by line: each line of a PEM body must be registered on its own.
    for (const line of sshKey.split(/\r?\n/)) {
      if (line.trim().length >= 8 && !line.startsWith('-----')) core.setSecret(line.trim());
    }
  }
  const result = schema.safeParse({
    sshKey,
    knownHosts: raw(Input.KnownHosts),
    server: raw(Input.Server).trim(),
    environment: raw(Input.Environment).trim(),
    config: raw(Input.Config),
    workingDirectory: raw(Input.WorkingDirectory),
    githubToken: raw(Input.GithubToken),
    comment: raw(Input.Comment).trim().toLowerCase(),
    deployment: raw(Input.Deployment).trim().toLowerCase(),
    secrets: raw(Input.Secrets),
    lockWait: raw(Input.LockWait).trim(),
    command: raw(Input.Command).trim(),
    force: raw(Input.Force).trim().toLowerCase(),
  });
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `input ${issue.message}`));
  }
  return result.data;
}

/** Output names exactly as action.yml spells them; nothing else sets outputs. */
export const Output = {
  Action: 'action',
  Environment: 'environment',
  Url: 'url',
  Release: 'release',
  DeploymentId: 'deployment-id',
} as const;

/** What the run did, as the `action` output says it. */
export type ActionOutcome = 'deployed' | 'unchanged' | 'removed' | 'skipped';

/** Sets one of the action's outputs. */
export function setOutput(name: (typeof Output)[keyof typeof Output], value: string): void {
  core.setOutput(name, value);
}
