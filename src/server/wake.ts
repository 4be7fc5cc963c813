/**
 * Sleeping environments, on systemd alone. Caddy proxies to a Unix socket systemd holds for the
 * instance's port (`toss-wake-<app>-<env>@<port>.socket`, only root and Caddy may connect). The
 * first connection starts the proxy service of that socket, which first starts the instance and
 * waits until it listens (so no request meets a port nobody listens on yet), then hands every
 * connection to it with `systemd-socket-proxyd`. The proxy exits once no connection has come for
 * the idle time; stopping it stops the instance, which frees its memory. The socket stays: the
 * next request wakes the environment again.
 *
 * Toss's own checks never go through the socket: the health check connects to the instance's
 * port directly, and `list`/`status` read systemd's states.
 */
import { TossError } from '../errors.js';
import { BASH_NAP } from './health.js';
import { assertPort, type EnvPaths } from './paths.js';
import { systemdEscapeSpecifiers, systemdQuote } from './systemd-quote.js';
import { PREVIEW_PRIORITY } from './systemd-unit.js';

/** Where the sockets Caddy reaches sleeping environments through live. */
export const WAKE_SOCKET_DIR = '/run/toss-wake';

/** Debian's and Ubuntu's path (merged /usr: /usr/lib/systemd too). */
const SOCKET_PROXYD = '/lib/systemd/systemd-socket-proxyd';

/** The socket for the instance on `port` (ports are unique on a server, so the path is too). */
export function wakeSocketPath(port: number): string {
  return `${WAKE_SOCKET_DIR}/${assertPort(port)}.sock`;
}

// Root runs it before the proxy starts: the instance starts (a failure shows as a port that never
// listens), then the proxy waits for its listener, looked at every 20 ms, at most $3 seconds.
// A preview's wake ($4 = 1) first takes the server's wake lock, so previews start one at a time:
// many starting at once (systemd setting up each sandbox at full priority, then each runtime
// loading) slowed production's answers by more than Nice= could give back. The lock is held for
// at most WAKE_LOCK_SECONDS of waiting for others and of starting, so an app that never listens
// holds back other previews' wakes by that much, not its whole start time.
const WAKE_LOCK = `${WAKE_SOCKET_DIR}/.wake.lock`;
export const WAKE_LOCK_SECONDS = 2;
const WAKE = `set -u
unit=$1 port=$2 limit=$3 serial=$4
if [ "$serial" = 1 ]; then
  exec 9>${WAKE_LOCK}
  flock -w ${WAKE_LOCK_SECONDS * 5} 9 || :
fi
held=${WAKE_LOCK_SECONDS * 50}
systemctl start -- "$unit" 2>/dev/null 9>&-
tries=$(( limit * 50 ))
until [ -n "$(ss -Htln "sport = :$port" 2>/dev/null 9>&-)" ]; do
  tries=$(( tries - 1 ))
  if [ "$tries" -le 0 ]; then
    echo "toss: $unit did not listen on port $port within $limit s" >&2
    exit 1
  fi
  held=$(( held - 1 ))
  [ "$held" -eq 0 ] && exec 9>&-
  sleep 0.02 9>&-
done`;

export interface WakeParams {
  /** seconds without a connection before the environment sleeps */
  sleepSeconds: number;
  /** seconds a waking instance has to listen */
  startSeconds: number;
}

/** The socket and proxy templates of a sleeping environment. Same inputs, same bytes. */
export function buildWakeUnits(
  p: EnvPaths,
  params: WakeParams,
): { socket: string; service: string } {
  const { sleepSeconds, startSeconds } = params;
  for (const [name, value] of Object.entries(params)) {
    if (!Number.isInteger(value) || value < 1 || value > 100 * 86_400) {
      throw new TossError(`invalid ${name} ${JSON.stringify(value)} for a sleeping environment`);
    }
  }
  const header = `# Managed by toss (app ${p.app}, environment ${p.environment}); rewritten on every deploy.`;
  const description = systemdEscapeSpecifiers(`toss ${p.app} ${p.environment}`);
  const instance = p.instanceUnit(1).replace('@1.service', '@%i.service');
  // Its scheduling group's nice too, as a preview's app (atEnvPriority says why).
  const wake = p.isProduction
    ? WAKE
    : `echo ${PREVIEW_PRIORITY.nice} >/proc/self/autogroup 2>/dev/null\n${WAKE}`;
  const socket = [
    header,
    '[Unit]',
    `Description=${description}: wakes on port %i`,
    '',
    '[Socket]',
    `ListenStream=${WAKE_SOCKET_DIR}/%i.sock`,
    // Caddy (and root) only: no app can wake, or reach, another environment through it.
    'SocketUser=root',
    'SocketGroup=caddy',
    'SocketMode=0660',
    'DirectoryMode=0755',
    'RemoveOnStop=yes',
    // Beside the instances, not in a slice of the template's own that would outlive it.
    'Slice=system.slice',
    `Service=${p.wakeServiceTemplate.replace('@.service', '@%i.service')}`,
    '',
    '[Install]',
    'WantedBy=sockets.target',
    '',
  ].join('\n');
  const service = [
    header,
    '[Unit]',
    `Description=${description}: proxy to port %i`,
    `Requires=${p.wakeSocketTemplate.replace('@.socket', '@%i.socket')}`,
    `After=${p.wakeSocketTemplate.replace('@.socket', '@%i.socket')}`,
    // A preview woken often (tests, a reviewer's reloads) is started as often as it is woken;
    // systemd's default (five starts in ten seconds) would answer the sixth wake with a 502.
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=exec',
    `ExecStartPre=+/bin/sh -c ${systemdQuote(wake)} sh ${instance} %i ${startSeconds} ${p.isProduction ? 0 : 1}`,
    `ExecStart=${SOCKET_PROXYD} --exit-idle-time=${sleepSeconds}s 127.0.0.1:%i`,
    // Idle (or stopped): the instance goes too. --no-block: a drain may be stopping it already.
    `ExecStopPost=+/bin/systemctl stop --no-block -- ${instance}`,
    // Beside the instances (system.slice), not in a slice of the template's own that would
    // outlive the environment.
    'Slice=system.slice',
    // A preview's wake (its polling, its proxy) yields to production as its app does.
    ...(p.isProduction ? [] : [`Nice=${PREVIEW_PRIORITY.nice}`]),
    'DynamicUser=yes',
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    '',
  ].join('\n');
  return { socket, service };
}

/** Starts the wake socket of the instance on `port` (it may already listen). */
export function listenWakeArgv(p: EnvPaths, port: number): string[] {
  return ['systemctl', 'start', '--', p.wakeSocketUnit(port)];
}

/** The wake socket of `port` stops listening (a failed deploy's; its proxy goes with it). */
export function stopWakeSocketArgv(p: EnvPaths, port: number): string[] {
  return ['systemctl', 'stop', '--', p.wakeSocketUnit(port)];
}

/**
 * The instance on `port` sleeps now: its proxy and the instance stop, the socket keeps
 * listening. Connections the proxy still carries are cut, so this is for a deploy's end, when
 * nothing but toss's own check has used it.
 */
export function sleepNowArgv(p: EnvPaths, port: number): string[] {
  return ['systemctl', 'stop', '--', p.wakeServiceUnit(port), p.instanceUnit(port)];
}

/** How long a deploy's end watches a woken instance's port before it puts it back to sleep. */
export const SLEEP_AGAIN_QUIET_MS = 250;

/** What the watch prints when it leaves the instance awake. */
export const SLEEP_AGAIN_IN_USE = 'in use';

// $1 the instance's port, $2 the quiet time in milliseconds, then the command that puts it to
// sleep (sleepNowArgv). A request
// served through the proxy while it watches leaves the instance awake, and says so: traffic woke
// it during the deploy, and its idle countdown decides from here. Served means a connection to
// the port open now, or one that came and went since it began to watch (the closed one stays in
// TIME-WAIT, so a short request between two looks is seen too). A request that has not reached
// the proxy yet is safe either way: the socket keeps listening and wakes the instance again.
// Looked at every 20 ms, in bash as the drain is.
const SLEEP_IF_QUIET = `set -u
port=$1 quiet=$2
shift 2
conns() {
  ss -Htn state all "( sport = :$port or dport = :$port )" 2>/dev/null |
    awk '$1 != "LISTEN" { print $1, $4, $5 }'
}
pairs() { printf '%s\\n' "$1" | awk 'NF { print $2, $3 }' | sort; }
${BASH_NAP}
first=$(pairs "$(conns)")
end=$(( \${EPOCHREALTIME/[.,]/} + quiet * 1000 ))
while :; do
  now=$(conns)
  case $now in
    *ESTAB*) echo "${SLEEP_AGAIN_IN_USE}"; exit 0 ;;
  esac
  if [ -n "$(pairs "$now" | comm -13 <(printf '%s\\n' "$first") -)" ]; then
    echo "${SLEEP_AGAIN_IN_USE}"
    exit 0
  fi
  [ "\${EPOCHREALTIME/[.,]/}" -lt "$end" ] || break
  read -r -t 0.02 -u "$nap" _
done
exec "$@"`;

/**
 * The instance on `port` sleeps again at a deploy's end, as it slept when the deploy began,
 * unless requests are being served through it now (it prints SLEEP_AGAIN_IN_USE then and
 * stays awake); otherwise it sleeps as sleepNowArgv puts it to sleep.
 */
export function sleepIfQuietArgv(p: EnvPaths, port: number): string[] {
  return [
    'bash',
    '-c',
    SLEEP_IF_QUIET,
    'bash',
    String(assertPort(port)),
    String(SLEEP_AGAIN_QUIET_MS),
    ...sleepNowArgv(p, port),
  ];
}

/**
 * The idle countdown starts now (the proxy starts; the instance is already running, so it waits
 * for nothing): an environment that was awake stays awake until nobody uses it.
 */
export function countIdleArgv(p: EnvPaths, port: number): string[] {
  return ['systemctl', 'start', '--', p.wakeServiceUnit(port)];
}
