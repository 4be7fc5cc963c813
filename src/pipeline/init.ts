/**
 * `toss init` on the server: connect (accepting a new host key only as the door was told),
 * check the system before changing anything, then provision only what is missing, so a re-run
 * reports nothing to change.
 */
import type { Database } from '../config/schema.js';
import { RemoteCommandError, TossError } from '../errors.js';
import {
  HostKeyRefusedError,
  type HostTrust,
  type VerifiedHostKey,
} from '../remote/host-key-policy.js';
import { CADDY_ADMIN_SOCKET, ensureAdminSocket } from '../server/caddy-admin.js';
import { installCaddyFileArgv, secureCaddyAdminArgv } from '../server/caddy-apply.js';
import { ensureImportLine } from '../server/caddy-site.js';
import { ensureUsersArgv } from '../server/layout.js';
import { checkOrigin, normalizeOrigin } from '../server/origin.js';
import { CADDYFILE } from '../server/paths.js';
import {
  appLayoutArgv,
  assertSupportedOs,
  databasePackages,
  enableCaddyArgv,
  ensurePostgresArgv,
  installFailureHint,
  installPackagesArgv,
  type OsRelease,
  osReleaseArgv,
  parseOsRelease,
  parseProbe,
  probeArgv,
  requiredPackages,
  type ServerSnapshot,
} from '../server/provision.js';
import { emptyState, pendingDependencies } from '../server/state.js';
import { applyCaddyChange } from './caddy-errors.js';
import type { EventSink, PipelineEvent } from './events.js';
import { acquireLock } from './lock.js';
import { applyDependencies, type Dependency, type StreamedRun, streamAsRoot } from './long-step.js';
import type { Actor, Login } from './request.js';
import { Session } from './session.js';
import { step } from './step.js';

/** The key an unknown server presented, for the door to show before trusting it. */
export type PresentedHostKey = Omit<VerifiedHostKey, 'source'>;

/** How `init` may trust a host that known_hosts does not list yet (a changed key: never). */
export type InitTrust =
  /** ask the user to confirm the fingerprint (interactive) */
  | { kind: 'confirm'; confirm: (key: PresentedHostKey) => Promise<boolean> }
  /** `--yes`: like ssh's StrictHostKeyChecking=accept-new */
  | { kind: 'accept-new' }
  /** `--host-key SHA256:…` */
  | { kind: 'pinned'; fingerprint: string };

export interface InitRequest {
  login: Login;
  app: string;
  /** the repository's remote URL, recorded as the app's origin */
  origin: string;
  /** toss.json `dependencies`: run as root, recorded in state */
  dependencies: Record<string, string>;
  /** toss.json `database`: PostgreSQL installed and running (provision.ts decides the packages) */
  database?: Database | undefined;
  actor: Actor;
  trust: InitTrust;
}

export interface InitResult {
  hostKey: VerifiedHostKey;
  os: OsRelease;
  /** what this run changed, one line each; empty when the server was already provisioned */
  changes: string[];
}

/** Provisions the server for one app: what `toss init` does once its files are planned. */
export async function initServer(request: InitRequest, sink: EventSink): Promise<InitResult> {
  const origin = normalizeOrigin(request.origin);
  const session = await step(
    sink,
    'connect',
    () => openTrusted(request),
    (s) => `${s.conn.target} (${s.conn.hostKey.fingerprint})`,
  );
  try {
    const hostKey = session.conn.hostKey;
    if (hostKey.source === 'accepted-new') sink(acceptedNewNotice(hostKey));
    const packages = requiredPackages(request);
    const { os, snapshot } = await step(
      sink,
      'server-check',
      () => checkServer(session, origin, packages),
      (r) => `${r.os.prettyName}, ${session.conn.isRoot ? 'root' : 'passwordless sudo'}`,
    );
    const changes: string[] = [];
    const said = (d: string) => d;
    const installed = await step(
      sink,
      'packages',
      () => installMissing(session, snapshot, packages, request, sink, changes),
      (r) => r.said,
    );
    await step(sink, 'caddy', () => configureCaddy(session, installed.snapshot, changes), said);
    await step(sink, 'app-setup', () => setUpApp(session, snapshot, origin, changes), said);
    await step(
      sink,
      'dependencies',
      () => applyUnderLock(session, request, origin, sink, changes),
      said,
    );
    return { hostKey, os, changes };
  } finally {
    await session.close();
  }
}

function acceptedNewNotice(hostKey: VerifiedHostKey): PipelineEvent {
  return {
    type: 'notice',
    message: `accepted the new host key ${hostKey.fingerprint} (${hostKey.keyType}) without asking, as --yes does (like ssh -o StrictHostKeyChecking=accept-new); compare it with the server's own key`,
  };
}

/**
 * The system and what is already there. Read-only until every check passed: an unsupported system
 * or a foreign app is left as it was.
 */
async function checkServer(
  session: Session,
  origin: string,
  packages: readonly string[],
): Promise<{ os: OsRelease; snapshot: ServerSnapshot }> {
  const release = await session.conn.run(osReleaseArgv(), { allowFailure: true });
  const os = release.code === 0 ? parseOsRelease(release.stdout) : undefined;
  assertSupportedOs(os);
  const snapshot = await probe(session, packages);
  if (snapshot.stateExists) {
    checkOrigin(session.app, (await session.readState())?.origin, origin);
  }
  return { os: os as OsRelease, snapshot };
}

async function openTrusted(request: InitRequest): Promise<Session> {
  const { login, app, trust } = request;
  if (trust.kind === 'accept-new') return Session.open(login, app, { acceptNew: true });
  if (trust.kind === 'pinned') {
    return Session.open(login, app, { pinnedFingerprint: trust.fingerprint });
  }
  try {
    return await Session.open(login, app);
  } catch (error) {
    if (
      !(error instanceof HostKeyRefusedError) ||
      error.reason !== 'unknown' ||
      error.presented === undefined
    ) {
      throw error;
    }
    const presented = error.presented;
    if (!(await trust.confirm(presented))) {
      throw new TossError(
        `host key ${presented.fingerprint} not confirmed; nothing was changed on the server`,
        {
          hint: `compare it with the server's own key (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the server), then run toss init again, or pass --host-key ${presented.fingerprint}`,
        },
      );
    }
    // Pinned to what the user saw: a different key on the second connection is refused.
    const pinned: HostTrust = { pinnedFingerprint: presented.fingerprint };
    return Session.open(login, app, pinned);
  }
}

async function probe(session: Session, packages: readonly string[]): Promise<ServerSnapshot> {
  return parseProbe((await session.root(probeArgv(session.app, packages))).stdout, packages);
}

/**
 * The missing packages installed, then PostgreSQL running when toss.json has a database. Returns
 * the server as it is now: after an install, probed again (a package's postinst enables and
 * starts its service).
 */
async function installMissing(
  session: Session,
  snapshot: ServerSnapshot,
  packages: readonly string[],
  config: { database?: Database | undefined },
  sink: EventSink,
  changes: string[],
): Promise<{ snapshot: ServerSnapshot; said: string }> {
  const missing = snapshot.missingPackages;
  const done: string[] = [];
  let now = snapshot;
  if (missing.length > 0) {
    const argv = installPackagesArgv(missing);
    const { code, tail } = await streamAsRoot(session, 'packages', argv, sink, { guarded: false });
    if (code !== 0) {
      const output = tail.join('\n');
      throw new RemoteCommandError(`apt-get install ${missing.join(' ')}`, code, output, {
        message: `installing ${missing.join(', ')} failed (exit ${code ?? 'signal'}):\n${output}`,
        hint: installFailureHint(output),
      });
    }
    done.push(`installed ${missing.join(', ')}`);
    now = await probe(session, packages);
  }
  if (databasePackages(config).length > 0 && !(now.postgresEnabled && now.postgresReady)) {
    const ensured = await session.root(ensurePostgresArgv());
    done.push(...ensured.stdout.split('\n').filter((line) => line.trim() !== ''));
  }
  changes.push(...done);
  return { snapshot: now, said: done.length ? done.join('; ') : 'already installed' };
}

async function configureCaddy(
  session: Session,
  snapshot: ServerSnapshot,
  changes: string[],
): Promise<string> {
  const done: string[] = [];
  // A fresh install is already enabled and running (Debian's postinst): the snapshot is the one
  // probed after installing.
  if (!snapshot.caddyEnabled || !snapshot.caddyActive) {
    await session.root(enableCaddyArgv());
    done.push('enabled and started Caddy');
  }
  const caddyfile = (await session.conn.readFileIfExists(CADDYFILE)) ?? '';
  // Refuses a Caddyfile with its own admin address before changing it.
  const withAdmin = ensureAdminSocket(caddyfile);
  const withImport = ensureImportLine(withAdmin.text);
  if (withImport.text !== caddyfile) {
    // Validated with the rest of the user's Caddyfile (as the caddy user), then applied; rolled
    // back on failure. The admin endpoint moves through a graceful reload (a restart if that fails).
    await applyCaddyChange(() =>
      session.root(installCaddyFileArgv(CADDYFILE), { stdin: withImport.text }),
    );
    if (withImport.changed) done.push(`added the toss import line to ${CADDYFILE}`);
    if (withAdmin.changed) done.push(`moved Caddy's admin endpoint to ${CADDY_ADMIN_SOCKET}`);
  } else {
    // The Caddyfile is right: the drop-in in place, and Caddy on the socket (moved if not).
    const secured = await applyCaddyChange(() => session.root(secureCaddyAdminArgv()));
    if (secured.stdout.includes('moved')) {
      done.push(`moved Caddy's admin endpoint to ${CADDY_ADMIN_SOCKET}`);
    } else if (secured.stdout.includes('restarted')) {
      done.push(`restarted Caddy to move its admin endpoint to ${CADDY_ADMIN_SOCKET}`);
    }
  }
  changes.push(...done);
  return done.length ? done.join('; ') : 'nothing to change';
}

async function setUpApp(
  session: Session,
  snapshot: ServerSnapshot,
  origin: string,
  changes: string[],
): Promise<string> {
  const app = session.app;
  const done: string[] = [];
  if (!snapshot.usersPresent) {
    await session.root(ensureUsersArgv(app));
    done.push('created the app users');
  }
  if (!snapshot.layoutOk) {
    await session.root(appLayoutArgv(app));
    done.push(`created ${session.paths.tossDir} and empty secrets files`);
  }
  let wrote = false;
  await session.updateState((state) => {
    if (state === undefined) {
      wrote = true;
      return emptyState(app, origin);
    }
    checkOrigin(app, state.origin, origin);
    if (state.origin !== undefined) return state;
    wrote = true;
    return { ...state, origin };
  });
  if (wrote) done.push(`recorded origin ${origin} in ${session.paths.stateFile}`);
  changes.push(...done);
  return done.length ? done.join('; ') : 'nothing to change';
}

/** Applies the dependencies not applied yet, under the app's lock. */
async function applyUnderLock(
  session: Session,
  request: InitRequest,
  origin: string,
  sink: EventSink,
  changes: string[],
): Promise<string> {
  const state = await session.readState();
  const pending = state ? pendingDependencies(state, request.dependencies) : [];
  if (pending.length === 0) return 'none pending';
  // Under the app's lock, as a production deploy applies them: never two runs at once.
  const lock = await acquireLock(
    session,
    { environment: 'production', actor: request.actor, lockWaitSeconds: 0, origin },
    sink,
  );
  try {
    await applyDependencies(session, pending, request.dependencies, sink, dependencyFailure);
  } finally {
    await lock.release();
  }
  changes.push(...pending.map((name) => `applied dependency ${name}`));
  return `applied ${pending.join(', ')}`;
}

function dependencyFailure({ name, command }: Dependency, { code, tail }: StreamedRun): Error {
  const output = tail.join('\n');
  return new RemoteCommandError(`dependency ${name}`, code, output, {
    message: `dependency ${name} (\`${command}\`) failed (exit ${code ?? 'signal'}):\n${output}`,
    hint: 'fix the command in toss.json dependencies, then run toss init again',
  });
}
