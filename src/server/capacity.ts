/**
 * How much memory the server has left for a preview, and the refusal when starting one would eat
 * into what production keeps (toss.json `previews.memoryFloor`). Production's deploys are never
 * refused for memory: this only ever stops a preview.
 *
 * "Available" is the smaller of the kernel's MemAvailable and, where the server itself runs in a
 * cgroup with a memory limit (a container, a VPS sold as one), that limit minus what the cgroup
 * uses. /proc/meminfo inside a container shows the whole machine's memory, so it alone would let
 * previews start until the container's own limit kills something. What a cgroup uses counts its
 * page cache too; the inactive part of the file cache is taken off, as the kernel reclaims it
 * before anything is killed (the "working set" container runtimes report the same way).
 */
import { TossError } from '../errors.js';
import type { Registry } from './registry.js';

/**
 * Prints what the server has, read-only, one fact a line:
 *   meminfo <field> <kB>                                  MemTotal and MemAvailable
 *   cgroup <v1|v2> <limit|max> <usage> <inactive file> <path>   the server's memory cgroup and
 *                                                         each ancestor up to the mount's root
 *   unit <unit> <rss kB>                                  resident memory of each toss unit
 * The server's cgroup is PID 1's: inside a container with its own cgroup namespace that is the
 * mount's root, elsewhere a path below it (a limit on any ancestor bounds it too, so each level
 * is printed). A path with ".." (PID 1 outside this namespace's root) falls back to the root.
 */
const MEMORY_SCRIPT = `set -u
awk '$1 == "MemTotal:" || $1 == "MemAvailable:" { sub(":", "", $1); print "meminfo", $1, $2 }' /proc/meminfo
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  version=v2 base=/sys/fs/cgroup limit=memory.max usage=memory.current inactive=inactive_file
  own=$(sed -n 's/^0:://p' /proc/1/cgroup)
elif [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
  version=v1 base=/sys/fs/cgroup/memory limit=memory.limit_in_bytes usage=memory.usage_in_bytes
  inactive=total_inactive_file
  own=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3; exit }' /proc/1/cgroup)
else
  version=
fi
if [ -n "$version" ]; then
  case $own in *..*) own= ;; esac
  dir=$base\${own%/}
  [ -d "$dir" ] || dir=$base
  while :; do
    if [ -r "$dir/$limit" ] && [ -r "$dir/$usage" ]; then
      cache=$(awk -v key="$inactive" '$1 == key { print $2 }' "$dir/memory.stat" 2>/dev/null)
      echo "cgroup $version $(cat "$dir/$limit") $(cat "$dir/$usage") \${cache:-0} \${dir#"$base"}/"
    fi
    [ "$dir" = "$base" ] && break
    dir=\${dir%/*}
  done
fi
ps -e -o rss=,unit= 2>/dev/null |
  awk '$2 ~ /^toss-.+[.]service$/ { rss[$2] += $1 } END { for (u in rss) print "unit", u, rss[u] }'
exit 0`;

/** One remote command, read-only, printing the server's memory figures (see parseMemory). */
export function memoryArgv(): string[] {
  return ['sh', '-c', MEMORY_SCRIPT];
}

export interface CgroupMemory {
  version: 'v1' | 'v2';
  /** the cgroup's path below the mount, "/" for its root */
  path: string;
  /** undefined: no limit ("max", or v1's near-2^63 "unlimited") */
  limitBytes: number | undefined;
  usageBytes: number;
  inactiveFileBytes: number;
}

export interface UnitMemory {
  /** e.g. `toss-shop-pr-12@3004.service` */
  unit: string;
  /** resident memory of its processes */
  bytes: number;
}

export interface ServerMemory {
  /** what a new process can use without pushing anything out */
  availableBytes: number;
  /** where availableBytes came from, in words (for messages and tests) */
  source: string;
  totalBytes: number | undefined;
  /** /proc/meminfo MemAvailable */
  memAvailableBytes: number;
  /** the server's cgroup and its ancestors, each with a memory figure */
  cgroups: CgroupMemory[];
  units: UnitMemory[];
}

// v1 reports "no limit" as the largest page-aligned signed 64-bit number; anything this big is one.
const NO_LIMIT = 2 ** 60;

/** The server's available memory from memoryArgv's output. */
export function parseMemory(stdout: string): ServerMemory {
  const meminfo = new Map<string, number>();
  const cgroups: CgroupMemory[] = [];
  const units: UnitMemory[] = [];
  for (const line of stdout.split('\n')) {
    const [kind, ...fields] = line.trim().split(/\s+/);
    if (kind === 'meminfo' && fields.length === 2) {
      meminfo.set(fields[0] as string, kib(fields[1]));
    } else if (kind === 'cgroup' && fields.length >= 5) {
      cgroups.push(parseCgroupLine(fields));
    } else if (kind === 'unit' && fields.length === 2) {
      units.push({ unit: fields[0] as string, bytes: kib(fields[1]) });
    }
  }
  const memAvailable = meminfo.get('MemAvailable');
  if (memAvailable === undefined) {
    throw new TossError("could not read the server's available memory (MemAvailable)", {
      hint: 'toss needs Linux 3.14 or later, whose /proc/meminfo has MemAvailable',
    });
  }
  const limited = tightestCgroup(cgroups);
  const fromCgroup = limited === undefined ? undefined : cgroupHeadroom(limited);
  const useCgroup = limited !== undefined && fromCgroup !== undefined && fromCgroup < memAvailable;
  return {
    availableBytes: useCgroup ? fromCgroup : memAvailable,
    source: useCgroup ? cgroupSource(limited) : 'MemAvailable in /proc/meminfo',
    totalBytes: meminfo.get('MemTotal'),
    memAvailableBytes: memAvailable,
    cgroups,
    units: units.sort((a, b) => b.bytes - a.bytes || a.unit.localeCompare(b.unit)),
  };
}

function parseCgroupLine(fields: string[]): CgroupMemory {
  const [version, limit, usage, inactive, ...path] = fields;
  if (version !== 'v1' && version !== 'v2') throw new TossError(`unknown cgroup ${version}`);
  const limitBytes = limit === 'max' ? undefined : bytes(limit);
  return {
    version,
    path: path.join(' ').replace(/\/+$/, '') || '/',
    limitBytes: limitBytes === undefined || limitBytes >= NO_LIMIT ? undefined : limitBytes,
    usageBytes: bytes(usage),
    inactiveFileBytes: bytes(inactive),
  };
}

/** What a cgroup can still take before its limit: limit − (usage − inactive file cache). */
function cgroupHeadroom(cgroup: CgroupMemory): number | undefined {
  if (cgroup.limitBytes === undefined) return undefined;
  const used = Math.max(0, cgroup.usageBytes - cgroup.inactiveFileBytes);
  return Math.max(0, cgroup.limitBytes - used);
}

/** The limited cgroup (the server's own or an ancestor) with the least headroom. */
function tightestCgroup(cgroups: CgroupMemory[]): CgroupMemory | undefined {
  let tightest: CgroupMemory | undefined;
  for (const cgroup of cgroups) {
    const room = cgroupHeadroom(cgroup);
    if (room === undefined) continue;
    if (tightest === undefined || room < (cgroupHeadroom(tightest) as number)) tightest = cgroup;
  }
  return tightest;
}

function cgroupSource(cgroup: CgroupMemory): string {
  const used = Math.max(0, cgroup.usageBytes - cgroup.inactiveFileBytes);
  return `the memory limit of the server's cgroup (${cgroup.version} ${cgroup.path}): ${formatBytes(cgroup.limitBytes as number)}, ${formatBytes(used)} in use`;
}

function bytes(text: string | undefined): number {
  if (text === undefined || !/^[0-9]+$/.test(text)) {
    throw new TossError(`unexpected memory figure ${JSON.stringify(text)} from the server`);
  }
  return Number(text);
}

function kib(text: string | undefined): number {
  return bytes(text) * 1024;
}

const UNIT_BYTES = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 } as const;

/**
 * Bytes of a size as toss.json and systemd write it ("256M", "1G", "0", "512"; K, M, G and T are
 * powers of 1024 as in systemd). A percentage ("50%", systemd's share of physical memory) needs
 * `totalBytes`; "infinity" gives undefined.
 */
export function sizeBytes(text: string, totalBytes?: number): number | undefined {
  if (text === 'infinity') return undefined;
  const percent = /^([0-9]{1,3})%$/.exec(text);
  if (percent !== null) {
    if (totalBytes === undefined) throw new TossError(`cannot size ${text} without the total`);
    return Math.floor((totalBytes * Number(percent[1])) / 100);
  }
  const match = /^([0-9]{1,16})([KMGT]?)$/.exec(text);
  if (match === null) throw new TossError(`invalid size ${JSON.stringify(text)}`);
  const unit = match[2] === '' ? 1 : UNIT_BYTES[match[2] as keyof typeof UNIT_BYTES];
  return Number(match[1]) * unit;
}

/** "1.5 GiB", "300 MiB": sizes as people read them in a message. */
export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${Math.round(n / 1024 ** 2)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

export interface AwakeEnvironment {
  app: string;
  environment: string;
  /** resident memory of its processes now */
  bytes: number;
}

/**
 * The server's running environments other than production, of every app, each with the memory
 * its processes hold, most first. A unit belongs to the environment whose registry entry names
 * it (or names its template, with the instance's port among its ports); units toss did not make
 * are left out.
 */
export function awakePreviews(units: UnitMemory[], registry: Registry): AwakeEnvironment[] {
  const totals = new Map<string, AwakeEnvironment>();
  for (const { unit, bytes: used } of units) {
    const owner = ownerOf(unit, registry);
    if (owner === undefined || owner.environment === 'production') continue;
    const key = `${owner.app}\0${owner.environment}`;
    const entry = totals.get(key) ?? { ...owner, bytes: 0 };
    entry.bytes += used;
    totals.set(key, entry);
  }
  return [...totals.values()].sort((a, b) => b.bytes - a.bytes);
}

function ownerOf(
  unit: string,
  registry: Registry,
): { app: string; environment: string } | undefined {
  const instance = /^(.+@)([0-9]{1,5})(\.service)$/.exec(unit);
  const template = instance === null ? undefined : `${instance[1]}${instance[3]}`;
  const port = instance === null ? undefined : Number(instance[2]);
  for (const [app, entry] of Object.entries(registry.apps)) {
    for (const [environment, env] of Object.entries(entry.environments)) {
      const named = env.units.includes(unit);
      const instanceOf =
        template !== undefined &&
        env.units.includes(template) &&
        env.ports.includes(port as number);
      if (named || instanceOf) return { app, environment };
    }
  }
  return undefined;
}

export interface CapacityCheck {
  /** the preview being deployed */
  environment: string;
  /** the server's available memory, bytes (parseMemory) */
  available: number;
  /** memory production keeps (previews.memoryFloor), bytes; 0 is no floor */
  floor: number;
  /** what the preview may take: its memory limit, bytes */
  need: number;
  /** other previews running now, most memory first (awakePreviews) */
  awake: AwakeEnvironment[];
  /** where `available` came from (parseMemory's source), named in the message */
  source?: string | undefined;
}

/** How many of the hungriest awake previews a refusal names. */
const NAMED_AWAKE = 5;

/**
 * Why the preview must not start, or undefined when it may: starting it could leave the server
 * with less than the floor once it grows to its limit.
 */
export function capacityProblem(check: CapacityCheck): TossError | undefined {
  if (check.floor <= 0 || check.available - check.need >= check.floor) return undefined;
  const source = check.source === undefined ? '' : ` (${check.source})`;
  const awake = check.awake
    .slice(0, NAMED_AWAKE)
    .map((env) => `${env.app} ${env.environment} (${formatBytes(env.bytes)})`);
  const using =
    awake.length === 0
      ? 'no preview is running now'
      : `previews running now, most memory first: ${awake.join(', ')}${check.awake.length > awake.length ? `, and ${check.awake.length - awake.length} more` : ''}`;
  return new TossError(
    `not enough memory to start ${check.environment}: the server has ${formatBytes(check.available)} available${source}, the preview may use up to ${formatBytes(check.need)} (its memory limit), and ${formatBytes(check.floor)} is kept for production (previews.memoryFloor); ${using}`,
    {
      hint: 'remove previews you no longer need (toss remove <environment>), or, in toss.json deployed to production, lower resources.previews.memory or previews.memoryFloor; production deploys are never refused for this',
    },
  );
}
