/**
 * What is on the server for one app, read in one command for `toss list`/`status`: unit
 * templates, site files, base secrets (key counts only, never values), override files and the
 * state of the live instances. Parsing is pure.
 */
import { appPaths, CADDY_SITES_DIR, SYSTEMD_DIR } from './paths.js';
import { isSecretClass } from './secrets.js';

// Key counts come from grep -c, so no secret value ever leaves the server for `status`.
const INVENTORY = `set -u
app=$1 units=$2 sites=$3 secrets=$4
shift 4
echo '[units]'
for f in "$units"/toss-"$app"-*@.service; do [ -e "$f" ] && printf '%s\\n' "\${f##*/}"; done
echo '[sites]'
for f in "$sites"/"$app"-*.caddy; do [ -e "$f" ] && printf '%s\\n' "\${f##*/}"; done
echo '[secrets]'
for class in production preview; do
  f=$secrets/$class.env
  if [ -f "$f" ]; then
    printf '%s %s\\n' "$class" "$(grep -cE '^[[:space:]]*(export[[:space:]]+)?[A-Za-z_][A-Za-z0-9_]*[[:space:]]*=' -- "$f")"
  else
    printf '%s absent\\n' "$class"
  fi
done
echo '[overrides]'
for f in "$secrets"/overrides/*.env; do [ -e "$f" ] && printf '%s\\n' "\${f##*/}"; done
echo '[services]'
systemctl list-units --all --plain --no-legend --full -- "toss-$app-*@*.service" "toss-wake-$app-*@*.socket"`;

/**
 * Lists the app's server-side pieces, and the state of every instance and wake socket of the
 * app's names that systemd has loaded, in one call: `systemctl show` of each unit costs a load of
 * each (tens of ms a unit on a busy server), and a unit systemd has not loaded is inactive. It
 * needs nothing from state.json, so it runs alongside its read (parseInventory keeps the units
 * asked about: `<app>-<env>` names can be another app's too).
 */
export function inventoryArgv(app: string): string[] {
  const a = appPaths(app);
  return ['sh', '-c', INVENTORY, 'sh', app, SYSTEMD_DIR, CADDY_SITES_DIR, a.secretsDir];
}

export interface Inventory {
  /** unit template file names, e.g. `toss-hello-pr-3@.service` */
  unitTemplates: string[];
  /** site file names, e.g. `hello-pr-3.caddy` */
  siteFiles: string[];
  /** number of KEY= lines in each base secrets file; null when the file does not exist */
  secretKeys: { production: number | null; preview: number | null };
  /** override file names, e.g. `pr-3.env` */
  overrideFiles: string[];
  /** unit name → ActiveState */
  services: Record<string, string>;
}

/**
 * `requested`: the units asked about (the live instances and wake sockets of the environments
 * that are the app's own); each one systemd did not list is not loaded, so inactive. No other
 * unit is kept.
 */
export function parseInventory(stdout: string, requested: readonly string[] = []): Inventory {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      current = [];
      sections.set(header[1]!, current);
    } else current?.push(line);
  }
  const nonEmpty = (name: string) => (sections.get(name) ?? []).filter((l) => l.trim() !== '');
  const secretKeys: Inventory['secretKeys'] = { production: null, preview: null };
  for (const line of nonEmpty('secrets')) {
    const [cls, count] = line.trim().split(/\s+/);
    if (cls !== undefined && isSecretClass(cls) && count !== undefined && /^\d+$/.test(count)) {
      secretKeys[cls] = Number(count);
    }
  }
  return {
    unitTemplates: nonEmpty('units').sort(),
    siteFiles: nonEmpty('sites').sort(),
    secretKeys,
    overrideFiles: nonEmpty('overrides').sort(),
    services: servicesOf(parseListUnits((sections.get('services') ?? []).join('\n')), requested),
  };
}

function servicesOf(
  listed: Record<string, string>,
  requested: readonly string[],
): Record<string, string> {
  const services: Record<string, string> = {};
  for (const unit of requested) services[unit] = listed[unit] ?? 'inactive';
  return services;
}

/**
 * `systemctl list-units --all --plain --no-legend --full` lines (`<unit> <load> <active> <sub>
 * <description>`) → unit → ActiveState.
 */
export function parseListUnits(stdout: string): Record<string, string> {
  const states: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const [unit, load, active] = line.trim().split(/\s+/);
    if (unit && load && active) states[unit] = active;
  }
  return states;
}

/** `Id=…`/`ActiveState=…` blocks (systemctl show of several units) → unit → ActiveState. */
export function parseSystemctlShow(stdout: string): Record<string, string> {
  const states: Record<string, string> = {};
  for (const block of stdout.split(/\n\s*\n/)) {
    const props = new Map<string, string>();
    for (const line of block.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) props.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
    }
    const id = props.get('Id');
    const state = props.get('ActiveState');
    if (id && state) states[id] = state;
  }
  return states;
}
