import type { TossConfig } from '../config/schema.js';
import type { Login } from '../remote/login.js';
import type { LocalBuilder } from './local-build.js';
import type { OpenServer } from './server.js';
import type { TreeHash } from './tree-hash.js';

export type { Login } from '../remote/login.js';

/** Who is deploying, recorded in state and in the lock. */
export interface Actor {
  /** a person or a workflow, e.g. "alice" or "github-actions (octo/app#42)" */
  by: string;
  /** link to the CI run, when there is one */
  runUrl?: string;
}

export interface TargetRequest {
  config: TossConfig;
  login: Login;
  environment: string;
  actor: Actor;
  /** seconds to wait for another holder's lock (CLI default 0, action 600) */
  lockWaitSeconds: number;
  /** a random lock token to (re-)use; the action saves it for its post step */
  lockToken?: string;
  /** called with the token once the lock is held */
  onLockAcquired?: (token: string) => void;
  /** how to reach the server: the SSH session by default (tests pass a fake) */
  connect?: OpenServer | undefined;
  /** how to log in to each of toss.json's `servers`, in order (fleet.ts) */
  fleet?: Login[] | undefined;
}

export interface DeployRequest extends TargetRequest {
  /** absolute directory uploaded as the release (the checkout joined with config.root) */
  sourceDir: string;
  /** the repository's remote URL (normalised before comparing) */
  origin: string;
  commit: string;
  branch?: string;
  /** the environment is `branch`'s own preview: refused if state says another branch or none owns it */
  ownedByBranch?: boolean;
  pr?: number;
  /** `KEY=VALUE` overrides stored for this environment; `KEY=` removes one */
  overrides: string[];
  /** runs toss.json's `build` here, before the upload (needed when the config has one) */
  builder?: LocalBuilder | undefined;
  /** deploy even when nothing changed since the live release (fingerprint.ts) */
  force?: boolean | undefined;
  /**
   * the upload's file list as the CLI began hashing it before the checks (tree-hash.ts): used
   * only when it was made for sourceDir and the config's filters
   */
  treeHash?: TreeHash | undefined;
  /** servers (as toss.json names them) production's deploy leaves out this time */
  skipServers?: string[] | undefined;
}

export interface DeployResult {
  environment: string;
  url: string;
  release: string;
  port: number;
  /**
   * true when nothing changed since the live release and it was healthy: no new release was
   * made, nothing on the server changed (fingerprint.ts)
   */
  unchanged?: boolean | undefined;
  /** false when the HTTPS confirmation timed out (a warning was emitted) */
  confirmed: boolean;
  /** a sleeping environment's idle time in seconds (the next request after it wakes it) */
  sleepAfter?: number | undefined;
  /** the environment's PostgreSQL database (toss.json database), and what it started from */
  database?: { name: string; from: string } | undefined;
  /** the servers it went live on, when production runs on several (fleet.ts) */
  servers?: string[] | undefined;
}

export interface RemoveRequest extends TargetRequest {
  /** allow removing production */
  force: boolean;
  /** production's database goes too (every other environment's always does) */
  dropDatabase?: boolean;
  /** the branch whose preview this is (branch deletion): refused unless state says it owns it */
  branch?: string;
}

export interface RemoveResult {
  environment: string;
  removed: boolean;
}
