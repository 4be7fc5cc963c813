/** systemctl and journalctl command lines for an environment's units. */
import { drainUnit } from './instances.js';
import { type EnvPaths, SYSTEMD_DIR } from './paths.js';

export function stopInstanceArgv(p: EnvPaths, port: number): string[] {
  return ['systemctl', 'stop', '--', p.instanceUnit(port)];
}

/** Exit 0 when the instance is running. */
export function isActiveArgv(p: EnvPaths, port: number): string[] {
  return ['systemctl', 'is-active', '--quiet', '--', p.instanceUnit(port)];
}

// A unit that is not loaded makes stop/disable fail; being gone is what we want, so that is fine.
const STOP_QUIETLY = `for unit in "$@"; do
  systemctl disable --now --quiet -- "$unit" 2>/dev/null || systemctl stop -- "$unit" 2>/dev/null || true
  systemctl reset-failed -- "$unit" 2>/dev/null || true
done`;

// `<app>-<env>` can name another app's unit too (shop/api-staging and shop-api/staging): a build
// runs in its own release directory, so one that runs anywhere else under /srv is not this
// environment's and is left alone. Dependencies run at / (production's only, whose name no other
// app environment can produce).
const STOP_RUN = `set -u
unit=$1 dir=$2
wd=$(systemctl show -p WorkingDirectory --value -- "$unit" 2>/dev/null)
case $wd in
  '' | / | "$dir"/*) ;;
  *) echo "toss: $unit runs in $wd, not in $dir: not this environment's, left alone" >&2; exit 0 ;;
esac
set -- "$unit"
${STOP_QUIETLY}`;

/** Stop the environment's transient unit (a long step whose lock was broken or released). */
export function stopRunUnitArgv(p: EnvPaths): string[] {
  return ['sh', '-c', STOP_RUN, 'sh', p.runUnit, p.envDir];
}

// Units are stopped and reset in as few systemctl calls as there are groups: each call acts on
// every unit it knows and only names the ones it does not (a drain that already ran, a long step
// that never started: "not loaded"), so one that is gone fails alone; a call per unit cost about
// 20 ms each, 0.2–0.4 s per remove. Drains and wake units (a sleeping environment's socket: a
// request now must not wake what goes) are stopped before the instances, the long step and the
// slices. Instances and wake sockets are disabled first: their boot links (toss made them, see
// instances.ts) are deleted directly, as `systemctl disable --no-reload` would, without its scan
// of every unit file there (30 ms a unit with 200 environments, growing with them).
// systemd unloads a stopped unit nothing refers to by itself; one it still keeps (a boot link it
// read at an earlier daemon-reload: the target wants it) goes only with a daemon-reload, which
// re-reads every unit on the server, so it runs only when one of the environment's units is still
// loaded once the templates are deleted. The slice systemd made for the template's instances
// (system-toss\x2d<app>\x2d<env>.slice) stays active once started, even empty: it is stopped
// last, when nothing of the template runs in it any more.
const TEARDOWN = `set -uf
slice=$1; shift
templates= patterns=
while [ "$1" != -- ]; do
  templates="$templates $1" name=\${1##*/}
  patterns="$patterns \${name%%@*}@*"
  shift
done
shift
unlink_boot() {
  set +f
  for link in ${SYSTEMD_DIR}/*/"$1"; do
    [ ! -L "$link" ] || rm -f -- "$link"
  done
  set -f
}
# The units stopped first, up to "--", then the others. Unit names are toss's own (letters,
# digits, - @ . and \\x2d): no spaces to split on, and -f keeps them from being globs.
first=
while [ "$1" != -- ]; do first="$first $1"; shift; done
shift
later="$*"
for unit in $first $later; do unlink_boot "$unit"; done
[ -z "$first" ] || systemctl stop -- $first 2>/dev/null
[ -z "$later" ] || systemctl stop -- $later 2>/dev/null
systemctl reset-failed -- $first $later 2>/dev/null
# Template paths are toss's own (/etc/systemd/system/toss-…@.service): no spaces to split on.
rm -f -- $templates || exit 1
loaded=$(systemctl list-units --all --plain --no-legend --full -- $first $later $patterns) || loaded=unknown
[ -z "$loaded" ] || systemctl daemon-reload || exit 1
systemctl stop -- "$slice" 2>/dev/null
systemctl reset-failed -- "$slice" 2>/dev/null
exit 0`;

/**
 * `system-toss\x2d<app>\x2d<env>.slice`: where systemd puts a template's instances. App and
 * environment names are lowercase letters, digits and dashes, so escaping a dash is all the
 * escaping systemd does to them.
 */
export function instanceSlice(p: EnvPaths): string {
  const prefix = p.unitTemplate.slice(0, -'@.service'.length);
  return `system-${prefix.replaceAll('-', '\\x2d')}.slice`;
}

/** `system-toss\x2dwake\x2d<app>\x2d<env>.slice`, as instanceSlice names the instances' one. */
function wakeSlice(p: EnvPaths): string {
  const prefix = p.wakeServiceTemplate.slice(0, -'@.service'.length);
  return `system-${prefix.replaceAll('-', '\\x2d')}.slice`;
}

/**
 * Remove: stop the drains of both ports (timer and service), the wake sockets and proxies, the
 * instances and the long-step unit, clear their failed states, delete the templates, reload, and
 * stop the instances' slice.
 */
export function teardownUnitsArgv(p: EnvPaths, ports: number[]): string[] {
  return [
    'sh',
    '-c',
    TEARDOWN,
    'sh',
    instanceSlice(p),
    p.unitTemplateFile,
    p.wakeSocketTemplateFile,
    p.wakeServiceTemplateFile,
    '--',
    // Stopped first: the drains, and a sleeping environment's sockets (a request now must not
    // wake what goes) with their proxies.
    ...ports.flatMap((port) => [`${drainUnit(p, port)}.timer`, `${drainUnit(p, port)}.service`]),
    ...ports.flatMap((port) => [p.wakeSocketUnit(port), p.wakeServiceUnit(port)]),
    '--',
    ...ports.map((port) => p.instanceUnit(port)),
    p.runUnit,
    // Where earlier wake proxies ran, before they went to system.slice.
    wakeSlice(p),
  ];
}

export interface JournalParams {
  paths: EnvPaths;
  /** one instance; all of the environment's instances when absent */
  port?: number | undefined;
  lines?: number | undefined;
  follow?: boolean | undefined;
}

export function journalArgv(params: JournalParams): string[] {
  const p = params.paths;
  const unit =
    params.port === undefined
      ? p.unitTemplate.replace('@.service', '@*')
      : p.instanceUnit(params.port);
  const lines = params.lines ?? 100;
  if (!Number.isInteger(lines) || lines < 0) throw new TypeError(`invalid line count ${lines}`);
  return [
    'journalctl',
    '--no-pager',
    '--output=short-iso',
    `--unit=${unit}`,
    `--lines=${lines}`,
    ...(params.follow ? ['--follow'] : []),
  ];
}
