/**
 * The environment's systemd template unit (`toss-<app>-<env>@.service`); an instance per port
 * runs the release that `slots/<port>` points at.
 */
import { TossError } from '../errors.js';
import { shellQuote } from '../remote/quote.js';
import { appPaths, assertPort, type EnvPaths } from './paths.js';
import { systemdEscapeSpecifiers, systemdQuote } from './systemd-quote.js';
import { envUser } from './users.js';

export interface UnitResources {
  /** MemoryMax=, e.g. "512M" */
  memory?: string | undefined;
  /** CPUQuota=, e.g. "100%" */
  cpu?: string | undefined;
}

export interface UnitTemplateParams {
  paths: EnvPaths;
  /** run by /bin/sh -c in the release directory */
  startCommand: string;
  resources?: UnitResources | undefined;
  /** the environment's two ports: the only TCP ports its processes may bind */
  ports: readonly [number, number];
  /** seconds to wait after SIGTERM before SIGKILL (default 30) */
  stopTimeoutSec?: number | undefined;
  /** the instance may write in its own release (default true); false keeps it read-only */
  writableRelease?: boolean | undefined;
}

// toss.json's schema checks limits with these; they are checked again here because they land in a
// unit file, whoever called.
/** systemd MemoryMax=: bytes with an optional K/M/G/T suffix, a percentage of RAM, or infinity. */
export const MEMORY_MAX = /^(?:[1-9][0-9]{0,15}[KMGT]?|(?:[1-9][0-9]?|100)%|infinity)$/;
/** systemd CPUQuota=: percent of one CPU; above 100% spans several. */
export const CPU_QUOTA = /^[1-9][0-9]{0,4}%$/;

/** Throws unless memory and cpu have the shapes MemoryMax= and CPUQuota= take from toss. */
export function assertResources(resources: UnitResources | undefined): void {
  const { memory, cpu } = resources ?? {};
  if (memory !== undefined && !MEMORY_MAX.test(memory)) {
    throw new TossError(`invalid memory limit ${JSON.stringify(memory)}`);
  }
  if (cpu !== undefined && !CPU_QUOTA.test(cpu)) {
    throw new TossError(`invalid CPU limit ${JSON.stringify(cpu)}`);
  }
}

/**
 * Where production stands against every other environment on a shared server. systemd's
 * default CPU and IO weight is 100: previews get a fifth of it, so under contention production
 * gets five times the CPU time and disk bandwidth of a busy preview, and an idle production
 * loses nothing (weights only matter when both want more). OOMScoreAdjust= raises a preview's
 * badness, so when memory runs out the kernel kills a preview's process before production's.
 */
export const PRODUCTION_PRIORITY = {
  cpuWeight: 100,
  ioWeight: 100,
  oomScoreAdjust: 0,
  nice: 0,
} as const;
// Nice= is the scheduler's own priority, not a cgroup's: it holds where cgroup weights do not
// (processes sharing one CPU cgroup, as in a container), so production's requests come first
// while previews start.
export const PREVIEW_PRIORITY = {
  cpuWeight: 20,
  ioWeight: 20,
  oomScoreAdjust: 500,
  nice: 10,
} as const;
/**
 * A preview's MemoryMax= when the trusted configuration sets none: enough for a typical Node,
 * Python or Ruby web process with room to spare, and small enough that a 2 GB server keeps
 * production's share when a few previews are awake at once.
 */
export const DEFAULT_PREVIEW_MEMORY = '512M';

/** The priority properties of an environment's processes, its app and its deployScript alike. */
export function priorityProperties(isProduction: boolean): string[] {
  const priority = isProduction ? PRODUCTION_PRIORITY : PREVIEW_PRIORITY;
  return [
    `CPUWeight=${priority.cpuWeight}`,
    `IOWeight=${priority.ioWeight}`,
    `OOMScoreAdjust=${priority.oomScoreAdjust}`,
    `Nice=${priority.nice}`,
  ];
}

/**
 * The shell command that runs `command` at the environment's scheduling priority. Nice= alone is
 * not enough where processes share one CPU cgroup (a container, these test hosts): there the
 * kernel's autogroups (sched_autogroup, on in Debian's and Ubuntu's kernels) group processes by
 * session, every systemd service starts its own session, and a nice value only counts inside its
 * group, so five previews at Nice=10 still got as much CPU as production. The group's own nice
 * (/proc/self/autogroup) is set too, by the process itself before it becomes the command (an
 * ExecStartPost= would turn a command that exits at once into a failed start). Where the unit
 * has a CPU cgroup of its own (cgroup v2 with CPUWeight=), autogroups do not apply and the
 * write changes nothing; a kernel without them has no such file. A preview's code can undo it
 * (write 0, or start a session): it is a courtesy that production's weights enforce.
 */
export function atEnvPriority(isProduction: boolean, command: string): string {
  if (isProduction) return command;
  return `echo ${PREVIEW_PRIORITY.nice} >/proc/self/autogroup 2>/dev/null; exec /bin/sh -c ${shellQuote(command)}`;
}

/** The memory limit an environment's app runs with: its own, or a preview's default. */
export function appMemoryLimit(isProduction: boolean, memory: string | undefined) {
  return memory ?? (isProduction ? undefined : DEFAULT_PREVIEW_MEMORY);
}

export interface SandboxParams {
  app: string;
  /** everything else is read-only (ProtectSystem=strict) */
  readWritePaths: readonly string[];
  /** SocketBindAllow=/SocketBindDeny= lines, after the address families */
  socketBind?: readonly string[] | undefined;
}

/**
 * The confinement shared by the app's unit and the deployScript's transient unit: both run the
 * environment's code as its user, so one list keeps the build from ever being looser than the
 * app (a build is the same pull request's code, with the same reach).
 */
export function sandboxProperties(params: SandboxParams): string[] {
  return [
    'UMask=0027',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    `ReadWritePaths=${params.readWritePaths.join(' ')}`,
    // State and secrets of every environment: the app never needs them at run time.
    `InaccessiblePaths=-${appPaths(params.app).tossDir}`,
    'PrivateTmp=yes',
    'PrivateMounts=yes',
    // Also a private /dev/shm: nothing written there outlives the unit or reaches the host's.
    'PrivateDevices=yes',
    // SysV IPC and POSIX message queues of its own, removed with the unit.
    'PrivateIPC=yes',
    'ProtectHome=yes',
    'ProtectProc=invisible',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'RemoveIPC=yes',
    'LockPersonality=yes',
    'KeyringMode=private',
    // AF_NETLINK: getifaddrs(), behind Node's os.networkInterfaces() that some servers call at start.
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK',
    ...(params.socketBind ?? []),
    'SystemCallArchitectures=native',
    // What a service (and a compiler, a package manager) needs; the rest fails with EPERM
    // instead of killing the process, so a runtime probing for a missing call falls back.
    'SystemCallFilter=@system-service',
    'SystemCallErrorNumber=EPERM',
    'CapabilityBoundingSet=',
    'AmbientCapabilities=',
  ];
}

/** The template unit's text. Same inputs, same bytes, so "rewrite only on change" works. */
export function buildUnitTemplate(params: UnitTemplateParams): string {
  const p = params.paths;
  const user = envUser(p.app, p.environment);
  const { cpu } = params.resources ?? {};
  assertResources(params.resources);
  const memory = appMemoryLimit(p.isProduction, params.resources?.memory);
  const stopTimeout = params.stopTimeoutSec ?? 30;
  if (!Number.isInteger(stopTimeout) || stopTimeout < 1) {
    throw new TossError(`invalid stop timeout ${JSON.stringify(stopTimeout)}`);
  }
  const ports = params.ports.map(assertPort);
  const description = systemdEscapeSpecifiers(`toss ${p.app} ${p.environment}`);
  const lines = [
    `# Managed by toss (app ${p.app}, environment ${p.environment}); rewritten on every deploy.`,
    '[Unit]',
    `Description=${description} on port %i`,
    'After=network.target',
    // A crashing app keeps being restarted instead of giving up after five tries.
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=exec',
    `User=${user}`,
    `Group=${user}`,
    `WorkingDirectory=${p.slotsDir}/%i`,
    `EnvironmentFile=${p.envFilesDir}/slot-%i.env`,
    // HOME is writable for tools that insist on one; the env file may override it.
    `Environment=HOME=${p.cacheDir}`,
    // env(1) because EnvironmentFile= beats Environment=: the port must be the instance's own.
    `ExecStart=/usr/bin/env PORT=%i TOSS_PORT=%i HOST=127.0.0.1 /bin/sh -c ${systemdQuote(atEnvPriority(p.isProduction, params.startCommand))}`,
    'Restart=always',
    'RestartSec=1',
    // SIGTERM to every process of the unit, so the app itself (not only the sh in front of it)
    // can finish its requests before the drain ends.
    'KillMode=control-group',
    `TimeoutStopSec=${stopTimeout}`,
    ...(memory === undefined ? [] : [`MemoryMax=${memory}`]),
    ...(cpu === undefined ? [] : [`CPUQuota=${cpu}`]),
    // Weights count against siblings in the cgroup tree: left in the slice systemd makes per
    // template, a preview's instance would only compete with its own other instance. In
    // system.slice every environment's instances compete with each other and with Caddy.
    'Slice=system.slice',
    ...priorityProperties(p.isProduction),
    ...sandboxProperties({
      app: p.app,
      // The instance's own release (its slot, resolved when it starts) when it may write there.
      readWritePaths: [
        p.preserveDir,
        p.cacheDir,
        ...(params.writableRelease === false ? [] : [`${p.slotsDir}/%i`]),
      ],
      // Only its own environment's ports: a process of this unit can never squat another
      // environment's (or app's) idle port, nor a live one while its instance restarts. Enforced
      // only where systemd has its BPF framework (cgroup v2; Debian 12's systemd lacks it), so
      // toss also checks who listens before it routes (port-owner.ts) and `toss status` reports a
      // port held by anything else. Port 0 (an ephemeral port the kernel picks) stays allowed.
      socketBind: [
        ...ports.map((port) => `SocketBindAllow=tcp:${port}`),
        'SocketBindDeny=tcp:1-65535',
      ],
    }),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return lines.join('\n');
}
