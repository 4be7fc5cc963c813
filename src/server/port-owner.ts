/**
 * Who listens on a port. Traffic must reach only the instance toss started for it: any local
 * process can bind an idle port (ports are visible in /proc/net/tcp), so before an instance starts
 * its port must be free of everyone else, and before Caddy is pointed at it the listener must
 * belong to the instance's own unit (its cgroup), not to whoever answered the health check.
 */
import { TossError } from '../errors.js';
import { EXIT } from './exit-codes.js';
import { assertPort } from './paths.js';

/** Something other than the expected unit listens on the port (listed on stdout). */
export const PORT_TAKEN_EXIT = EXIT.portTaken;
/** After a healthy check, nothing of the expected unit listens on the port. */
export const PORT_NOT_OURS_EXIT = EXIT.portNotOurs;

// What the guard and the listener listing both ask of a process, in awk (one process reads ss's
// lines and every /proc file; a guard runs twice in every deploy, and a pipeline of grep, cut and
// sort per step cost a dozen processes each time). No single quote in it: each program sits in
// one as it is.
//   pids_in(line, found)  the pids of an ss line into found[1..n]; returns n
//   in_unit(pid)          1 when a path in /proc/<pid>/cgroup is the unit's or under it (the v1
//                         name=systemd line and the unified one alike), 0 when none is, -1 when
//                         the process is gone; cgroup_path is then its systemd cgroup path
//   comm_of(pid)          its command name, cut to 32 characters of [A-Za-z0-9._+-] (others "?")
const PROCESS_AWK = `
function pids_in(line, found,  n) {
  n = 0
  while (match(line, /pid=[0-9]+/)) {
    found[++n] = substr(line, RSTART + 4, RLENGTH - 4)
    line = substr(line, RSTART + RLENGTH)
  }
  return n
}
function in_unit(pid,  f, l, c, read, mine) {
  f = "/proc/" pid "/cgroup"
  read = 0; mine = 0; cgroup_path = ""
  while ((getline l < f) > 0) {
    read = 1
    c = l
    sub(/^[^:]*:[^:]*:/, "", c)
    if (substr(c, length(c) - length(unit)) == "/" unit || index(c, "/" unit "/")) mine = 1
    if (cgroup_path == "" && (l ~ /^0::/ || l ~ /^[0-9]+:name=systemd:/)) cgroup_path = c
  }
  close(f)
  return read ? mine : -1
}
function comm_of(pid,  f, c) {
  f = "/proc/" pid "/comm"
  c = ""
  getline c < f
  close(f)
  c = substr(c, 1, 32)
  gsub(/[^A-Za-z0-9._+-]/, "?", c)
  return c
}`;

// On stderr, one `foreign` line per listening process that is not in the unit's cgroup:
// `foreign <pid>\t<user>\t<unit or cgroup>\t<command name>`, or `foreign -\t-\t-\t-` for a
// listening socket no process could be found for; the unit is its cgroup path's last component.
const OWNERS = `${PROCESS_AWK}
function report(pid, path,  f, l, uid, name) {
  f = "/proc/" pid "/status"
  while ((getline l < f) > 0) if (l ~ /^Uid:/) { split(l, id, /[ \\t]+/); uid = id[3] }
  close(f)
  name = uid == "" ? "?" : uid
  while (uid != "" && (getline l < "/etc/passwd") > 0) {
    split(l, pw, ":")
    if (pw[3] == uid) { name = pw[1]; break }
  }
  close("/etc/passwd")
  sub(/.*\\//, "", path)
  printf "foreign %s\\t%s\\t%s\\t%s\\n", pid, name, path, comm_of(pid) > "/dev/stderr"
}
NF == 0 { next }
{
  sockets++
  if (index($0, "pid=")) owned++
  for (i = pids_in($0, found); i > 0; i--) {
    if (!(found[i] in seen)) { seen[found[i]] = 1; pids[++n] = found[i] }
  }
}
END {
  if (sockets > owned) { print "foreign -\\t-\\t-\\t-" > "/dev/stderr"; foreign++ }
  for (i = 1; i <= n; i++) {
    mine = in_unit(pids[i])
    if (mine < 0) continue
    if (mine) { ours++; continue }
    report(pids[i], cgroup_path)
    foreign++
  }
  if (foreign > 0) exit taken
  if (mode != "free" && ours == 0) exit notours
  exit 0
}`;

const GUARD = `set -uf
mode=$1 port=$2 unit=$3
listeners=$(ss -Htlnp "sport = :$port") || exit 1
printf '%s\\n' "$listeners" | awk -v mode="$mode" -v unit="$unit" \\
  -v taken=${PORT_TAKEN_EXIT} -v notours=${PORT_NOT_OURS_EXIT} '${OWNERS}'`;

/**
 * `free`: nothing but `unit` (an earlier run of the same instance, which the start replaces)
 * listens on `port`. `owned`: something listens and all of it is `unit`'s.
 */
export function portGuardArgv(mode: 'free' | 'owned', port: number, unit: string): string[] {
  if (!/^[A-Za-z0-9@._-]+\.service$/.test(unit)) {
    throw new TossError(`invalid unit name ${JSON.stringify(unit)}`);
  }
  return ['sh', '-c', GUARD, 'sh', mode, String(assertPort(port)), unit];
}

export interface ForeignListener {
  pid: number | undefined;
  user: string;
  /** the systemd unit (or scope, or cgroup) the process runs in */
  unit: string;
  command: string;
}

/** The `foreign` lines of a guard's stderr. */
export function parseForeignListeners(stdout: string): ForeignListener[] {
  const found: ForeignListener[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^foreign (\S+)\t([^\t]*)\t([^\t]*)\t(.*)$/.exec(line);
    if (!m) continue;
    const [, pid = '-', user = '', unit = '', command = ''] = m;
    found.push({
      pid: /^[0-9]+$/.test(pid) ? Number(pid) : undefined,
      user: user === '-' ? '' : user,
      unit: unit === '-' ? '' : unit,
      command: command === '-' ? '' : command,
    });
  }
  return found;
}

/** `pid 812 (node) of user toss-shop_pv in squat.service`, for messages. */
export function describeListener(listener: ForeignListener): string {
  if (listener.pid === undefined) return 'a socket whose process could not be found';
  const parts = [`pid ${listener.pid}`];
  if (listener.command) parts.push(`(${listener.command})`);
  if (listener.user) parts.push(`of user ${listener.user}`);
  if (listener.unit) parts.push(`in ${listener.unit}`);
  return parts.join(' ');
}

// Runs the guard for each port/unit pair; its foreign lines come out on stdout prefixed with the
// port: `foreign <port> <pid>\t<user>\t<unit>\t<command>`.
const LISTENERS = `set -u
guard=$1
shift
while [ "$#" -ge 2 ]; do
  port=$1 unit=$2
  shift 2
  sh -c "$guard" sh free "$port" "$unit" 2>&1 >/dev/null | awk -v port="$port" '/^foreign / { sub(/^foreign /, "foreign " port " "); print }'
done
exit 0`;

/**
 * Who else listens on these ports (each with the instance unit that alone may): for `toss status`,
 * which names a process that took an environment's port, e.g. while its instance restarted.
 */
export function foreignListenersArgv(
  checks: ReadonlyArray<{ port: number; unit: string }>,
): string[] {
  const args = checks.flatMap(({ port, unit }) => [String(port), unit]);
  // The guard validates each pair: build it once per pair to keep that check.
  for (const { port, unit } of checks) portGuardArgv('free', port, unit);
  return ['sh', '-c', LISTENERS, 'sh', GUARD, ...args];
}

/** foreignListenersArgv's output: port → the processes listening there that should not. */
export function parseForeignListenersByPort(stdout: string): Map<number, ForeignListener[]> {
  const byPort = new Map<number, ForeignListener[]>();
  for (const line of stdout.split('\n')) {
    const m = /^foreign ([0-9]+) (.*)$/.exec(line);
    if (!m) continue;
    const [listener] = parseForeignListeners(`foreign ${m[2]}`);
    if (listener === undefined) continue;
    const port = Number(m[1]);
    byPort.set(port, [...(byPort.get(port) ?? []), listener]);
  }
  return byPort;
}

// One `listener <address>\t<pid>\t<command name>` line per listening TCP socket of a process in
// the unit's cgroup, found as the guard finds owners (PROCESS_AWK).
const UNIT_LISTENERS = `set -uf
unit=$1
ss -Htlnp | awk -v unit="$unit" '${PROCESS_AWK}
{
  split("", seen)
  for (i = pids_in($0, found); i > 0; i--) {
    pid = found[i]
    if (pid in seen) continue
    seen[pid] = 1
    if (in_unit(pid) == 1) printf "listener %s\\t%s\\t%s\\n", $4, pid, comm_of(pid)
  }
}'
exit 0`;

/** A TCP socket a unit's own process listens on. */
export interface UnitListener {
  /** as ss prints it: `127.0.0.1:3000`, `0.0.0.0:8000`, `*:8000`, `[::1]:3000` */
  address: string;
  port: number;
  pid: number;
  command: string;
}

/**
 * What the processes of `unit` listen on (any port), as `listener` lines on stdout: why an
 * instance that never answered on its own port did not, when it listened somewhere else.
 */
export function unitListenersArgv(unit: string): string[] {
  if (!/^[A-Za-z0-9@._-]+\.service$/.test(unit)) {
    throw new TossError(`invalid unit name ${JSON.stringify(unit)}`);
  }
  return ['sh', '-c', UNIT_LISTENERS, 'sh', unit];
}

/** The `listener` lines of unitListenersArgv's output (other lines are ignored), one per socket. */
export function parseUnitListeners(output: string): UnitListener[] {
  const found = new Map<string, UnitListener>();
  for (const line of output.split('\n')) {
    const m = /^listener (\S*:([0-9]+))\t([0-9]+)\t(.*)$/.exec(line);
    if (!m) continue;
    const [, address = '', port = '', pid = '', command = ''] = m;
    // A socket shared by several processes (forked workers) is one listener.
    if (!found.has(address)) {
      found.set(address, { address, port: Number(port), pid: Number(pid), command });
    }
  }
  return [...found.values()];
}
