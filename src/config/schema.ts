import { z } from 'zod';
import { FIRST_PORT } from '../server/ports.js';
import { CPU_QUOTA, MEMORY_MAX } from '../server/systemd-unit.js';
import { ENV_NAME_MAX_LENGTH, ENV_NAME_PATTERN, ENV_NAME_RULE, isPrEnvName } from './env-name.js';
import { SERVER_EXPECTED, serverProblem } from './server.js';

/*
 * The single source of truth for toss.json: the TypeScript types, toss.schema.json and the
 * error messages all come from here. Each message says what is expected; the loader adds the
 * field path and the value found (see errors-format.ts).
 */

/** The same message for a field's type error and every one of its checks. */
const expect = (text: string) => ({ error: `expected ${text}` });

// Checks that JSON Schema cannot carry (refinements are left out of toss.schema.json).
const hasControl = (s: string) => /\p{Cc}/u.test(s);
const hasControlButTabOrNewline = (s: string) => /(?![\t\n\r])\p{Cc}/u.test(s);
const isBlank = (s: string) => s.trim().length === 0;
const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);

// A path segment that is neither empty, '.' nor '..'.
const SEGMENT = String.raw`(?!\.{1,2}(?:/|$))[^/]+`;
// Like SEGMENT but '.' is fine (a local path such as "./apps/web").
const LOCAL_SEGMENT = String.raw`(?!\.\.(?:/|$))[^/]+`;
const RELATIVE_PATH = new RegExp(`^${SEGMENT}(?:/${SEGMENT})*$`);
const LOCAL_RELATIVE_PATH = new RegExp(`^${LOCAL_SEGMENT}(?:/${LOCAL_SEGMENT})*$`);
// An exclude pattern rsync could read as a rule: "!" clears the excludes before it (the built-in
// ones included), "+ "/"- " (with modifiers after a ",") choose the rule. toss passes patterns as
// literal excludes anyway; refusing them says so instead of quietly excluding a file named "!".
const EXCLUDE_PLAIN = /^(?!!|[+-][ _,])/;
// Lowercase DNS name of two or more labels; the last starts with a letter, so it is never an IP.
export const HOST_NAME =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/*
 * previewAuth lands in a Caddy site file (caddy-site.ts), so each value is one plain token from a
 * closed alphabet, checked here (before connecting) and again by the site builder:
 * - the user: letters, digits, ".", "_" and "-", starting with a letter or digit. Nothing Caddy
 *   reads as syntax (braces, quotes, "#", "$", "(", whitespace) can appear; the one word Caddy's
 *   parser acts on wherever a line starts, inside blocks too, is `import`, refused in any case.
 * - the hash: bcrypt as every encoder writes it ($2a$/$2b$/$2y$, 22 salt and 31 hash characters
 *   of bcrypt's base64, whose last characters carry only the bits bcrypt has, so a made-up string
 *   such as a path padded to length is refused), with a cost from 04 to 14: Caddy checks the
 *   password on every request, and each step of the cost doubles that work (`caddy
 *   hash-password` uses 14; 31 lets eight requests hold every core of a small server).
 */
export const BASIC_AUTH_USER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const CADDY_KEYWORDS: readonly string[] = ['import'];
export const BCRYPT_HASH =
  /^\$2[aby]\$(?:0[4-9]|1[0-4])\$[./A-Za-z0-9]{21}[.Oeu][./A-Za-z0-9]{30}[.CGKOSWaeimquy26]$/;
export const isCaddyKeyword = (s: string) => CADDY_KEYWORDS.includes(s.toLowerCase());
const DEPENDENCY_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

const APP_EXPECTED =
  'an app name of lowercase letters, digits and single dashes, starting with a letter, at most 40 characters (like "myapp")';
const HOST_EXPECTED = 'a lowercase host name like "myapp.com"';
const PREVIEW_DOMAIN_EXPECTED =
  'a lowercase host name like "preview.myapp.com", at most 189 characters so that preview names fit';
const START_EXPECTED = 'a command on one line, like "node server.js"';
const STATIC_EXPECTED =
  'a relative directory like "dist", "public/site" or "." (names of letters, digits, ".", "_" and "-", none starting with ".")';
// A static site's directory becomes a path in a Caddy site file: plain names only.
const STATIC_DIR =
  /^(?:\.\/?|(?:\.\/)?[A-Za-z0-9_-][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*\/?)$/;
const DRAIN_EXPECTED = 'a whole number of seconds from 0 to 3600';
const SCRIPT_EXPECTED = 'a non-empty array of shell commands, like ["npm ci", "npm run build"]';
const COMMAND_EXPECTED =
  'a non-empty shell command without control characters other than tab and newline';
const DIR_EXPECTED =
  'a relative path like "uploads" or "data/db" (no leading "/", no empty, "." or ".." parts)';
const MEMORY_EXPECTED = 'a size like "512M" or "1G", a percentage like "50%", or "infinity"';
const CPU_EXPECTED = 'a percentage of one CPU like "50%" or "200%"';
const HEALTH_PATH_EXPECTED = 'a URL path starting with "/", like "/up"';
const TIMEOUT_EXPECTED = 'a whole number of seconds from 1 to 600';
const AUTH_USER_EXPECTED =
  'a user name of letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64 long, other than "import"';
const BCRYPT_EXPECTED =
  'a bcrypt hash with a cost from 04 to 14, like "$2a$14$…" from `caddy hash-password` (not a password)';
const MAX_PREVIEWS_EXPECTED = 'a whole number from 0 to 1000';
const ROOT_EXPECTED = 'a relative directory like "." or "apps/web" (no leading "/", no "..")';
const EXCLUDE_EXPECTED = 'an rsync pattern like "*.log" or "/tmp/" (non-empty, one line)';
const EXCLUDE_PLAIN_EXPECTED =
  'a plain exclude pattern: no "!" (rsync would clear the list, and patterns cannot be negated) and no "+ " or "- " rule prefix (.git, node_modules, .env*, .DS_Store and .toss are never uploaded)';
const CACHE_EXPECTED =
  'false, or an array of paths like ["~/.npm", ".next/cache"] (relative to root, under ~/, or absolute; no ".." parts)';
const BRANCH_EXPECTED = 'branch names or patterns like "main" or "feature/*", without spaces';
const DEPENDENCY_NAME_EXPECTED =
  'dependency names of letters, digits, ".", "_", "+" and "-", at most 64 characters';
const ENV_TARGET_EXPECTED = `an environment name (${ENV_NAME_RULE}; not pr-<n>), or "preview" for a preview named after the branch`;

/** zod drops a `__proto__` key from records without a word; say so instead. */
function rejectProtoKey(value: unknown, ctx: { addIssue: (issue: z.core.$ZodRawIssue) => void }) {
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__')) {
    ctx.addIssue({
      code: 'custom',
      path: ['__proto__'],
      message: 'expected a branch name other than "__proto__"',
      input: value,
    });
  }
  return value;
}

const command = z
  .string(expect(COMMAND_EXPECTED))
  .refine((s) => !isBlank(s), expect(COMMAND_EXPECTED))
  .refine((s) => !hasControlButTabOrNewline(s), expect(COMMAND_EXPECTED));

const hostName = (text: string, max: number) =>
  z.string(expect(text)).max(max, expect(text)).regex(HOST_NAME, expect(text));

const memory = z
  .string(expect(MEMORY_EXPECTED))
  .regex(MEMORY_MAX, expect(MEMORY_EXPECTED))
  .describe('memory limit, systemd MemoryMax= syntax: "512M", "1G", "50%" or "infinity"');

const cpu = z
  .string(expect(CPU_EXPECTED))
  .regex(CPU_QUOTA, expect(CPU_EXPECTED))
  .describe('CPU limit, systemd CPUQuota= syntax: "50%" is half of one CPU, "200%" two CPUs');

const BUILD_TIMEOUT_EXPECTED = 'a whole number of seconds from 10 to 86400';
const buildTimeout = z
  .number(expect(BUILD_TIMEOUT_EXPECTED))
  .int(expect(BUILD_TIMEOUT_EXPECTED))
  .min(10, expect(BUILD_TIMEOUT_EXPECTED))
  .max(86_400, expect(BUILD_TIMEOUT_EXPECTED))
  .describe(
    'seconds deployScript may run before it is stopped and the deploy fails (default 1800, previews 900)',
  );

const limits = {
  memory: memory.optional(),
  cpu: cpu.optional(),
  buildTimeout: buildTimeout.optional(),
};

/** A cache path: `~/…`, absolute, or relative to root; one line, no `..` part. */
const cachePath = z
  .string(expect(CACHE_EXPECTED))
  .min(1, expect(CACHE_EXPECTED))
  .max(1024, expect(CACHE_EXPECTED))
  .refine((s) => !hasControl(s) && !isBlank(s), expect(CACHE_EXPECTED))
  .refine((s) => !s.split('/').includes('..'), expect(CACHE_EXPECTED))
  // "!" would make it an exclusion pattern; "~user/" names another user's home.
  .refine(
    (s) => !s.startsWith('!') && (!s.startsWith('~') || /^~\/./.test(s)),
    expect(CACHE_EXPECTED),
  );

const persistentDir = z
  .string(expect(DIR_EXPECTED))
  .max(255, expect(DIR_EXPECTED))
  .regex(RELATIVE_PATH, expect(DIR_EXPECTED))
  .refine((s) => !hasControl(s), expect(DIR_EXPECTED));

const SEED_EXPECTED = 'a relative path to an SQL file in the release, like "db/seed.sql"';

export const databaseSchema = z
  .strictObject(
    {
      engine: z
        .literal('postgres', expect('"postgres"'))
        .describe("PostgreSQL from the server's own packages (Debian's and Ubuntu's postgresql)"),
      seed: z
        .string(expect(SEED_EXPECTED))
        .max(255, expect(SEED_EXPECTED))
        .regex(RELATIVE_PATH, expect(SEED_EXPECTED))
        .refine((s) => !hasControl(s), expect(SEED_EXPECTED))
        .optional()
        .describe(
          "SQL file in the release, run with psql as the previews' role into the app's template database when it changes; every new preview's database starts as a copy of that template (without it, previews start empty)",
        ),
    },
    expect('an object like {"engine": "postgres", "seed": "db/seed.sql"}'),
  )
  .describe(
    "a PostgreSQL database per environment on the server, reached without a password over the local socket (DATABASE_URL, PGHOST, PGDATABASE, PGUSER in every release and deployScript); production's is created once and kept, each preview's is a fresh copy of the seed's template, dropped with the preview",
  );

export const healthCheckSchema = z
  .strictObject(
    {
      path: z
        .string(expect(HEALTH_PATH_EXPECTED))
        .max(1024, expect(HEALTH_PATH_EXPECTED))
        .regex(/^\/[^\s]*$/, expect(HEALTH_PATH_EXPECTED))
        .refine((s) => !hasControl(s), expect(HEALTH_PATH_EXPECTED))
        .describe('path requested on http://127.0.0.1:$PORT; a 2xx or 3xx answer means healthy'),
      timeout: z
        .number(expect(TIMEOUT_EXPECTED))
        .int(expect(TIMEOUT_EXPECTED))
        .min(1, expect(TIMEOUT_EXPECTED))
        .max(600, expect(TIMEOUT_EXPECTED))
        .default(30)
        .describe('seconds the new release has to become healthy before the deploy fails'),
    },
    expect('an object like {"path": "/up", "timeout": 30}'),
  )
  .describe(
    'HTTP check a new release must pass before it gets traffic; without it, a TCP connect to $PORT',
  );

const PRIVATE_EXPECTED = 'an IPv4 address on a private network, like "10.0.0.2"';
// RFC 1918 and the shared address space: the front reaches the web servers there, never over
// the internet in plain HTTP.
const PRIVATE_IPV4 =
  /^(?:10\.(?:25[0-5]|2[0-4]\d|1?\d?\d)|172\.(?:1[6-9]|2\d|3[01])|192\.168|100\.(?:6[4-9]|[7-9]\d|1[01]\d|12[0-7]))(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){2}$/;
const privateAddress = z
  .string(expect(PRIVATE_EXPECTED))
  .regex(PRIVATE_IPV4, expect(PRIVATE_EXPECTED));
const BATCH_EXPECTED = 'a whole number of servers from 1 to 100';
// Below the ports toss hands instances (FIRST_PORT and up), whose units may bind their own: no
// environment can ever be given the front's port and answer the front in its place.
const FRONT_PORT_MAX = FIRST_PORT - 1;
const INTERNAL_PORT_EXPECTED = `a port from 1024 to ${FRONT_PORT_MAX}`;

/** An SSH target (server.ts says what parses): `server`, and each of `servers`. */
const sshTarget = z.string(expect(SERVER_EXPECTED)).superRefine((value, ctx) => {
  const problem = serverProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const fleetServerSchema = z
  .strictObject(
    {
      server: sshTarget.describe('SSH target, as `server` takes one'),
      role: z
        .enum(['web', 'worker'], expect('"web" or "worker"'))
        .default('web')
        .describe(
          "web: runs startCommand behind the server's own Caddy; worker: runs worker.startCommand, no site, no traffic",
        ),
      private: privateAddress
        .optional()
        .describe(
          "the server's private address, which the front reaches it at (needed with front)",
        ),
    },
    expect('an object like {"server": "deploy@web2.example.com", "private": "10.0.0.3"}'),
  )
  .describe('one more server production runs on');

export const frontSchema = z
  .strictObject(
    {
      private: privateAddress.describe("the first server's private address"),
      port: z
        .number(expect(INTERNAL_PORT_EXPECTED))
        .int(expect(INTERNAL_PORT_EXPECTED))
        .min(1024, expect(INTERNAL_PORT_EXPECTED))
        .max(FRONT_PORT_MAX, expect(INTERNAL_PORT_EXPECTED))
        .default(2080)
        .describe(
          "the port every web server's Caddy answers production on, bound to its private address only",
        ),
    },
    expect('an object like {"private": "10.0.0.2", "port": 2080}'),
  )
  .describe(
    "the first server's Caddy balances production's name across every web server over the private network, with active health checks; without it, point DNS at every web server",
  );

export const workerSchema = z
  .strictObject(
    {
      startCommand: z
        .string(expect(START_EXPECTED))
        .refine((s) => !isBlank(s) && !hasControl(s), expect(START_EXPECTED))
        .describe('the command worker servers run from the same release (no port is served)'),
    },
    expect('an object like {"startCommand": "node worker.js"}'),
  )
  .describe('what a server with role worker runs');

export const rolloutSchema = z
  .strictObject(
    {
      batch: z
        .number(expect(BATCH_EXPECTED))
        .int(expect(BATCH_EXPECTED))
        .min(1, expect(BATCH_EXPECTED))
        .max(100, expect(BATCH_EXPECTED))
        .default(1)
        .describe(
          'servers routed (Caddy) together, batch after batch; every server starts and health-checks the release at once',
        ),
    },
    expect('an object like {"batch": 1}'),
  )
  .describe('how production goes live across its servers');

export const previewAuthSchema = z
  .strictObject(
    {
      user: z
        .string(expect(AUTH_USER_EXPECTED))
        .regex(BASIC_AUTH_USER, expect(AUTH_USER_EXPECTED))
        .refine((s) => !isCaddyKeyword(s), expect(AUTH_USER_EXPECTED))
        .describe(
          'basic auth user name: letters, digits, ".", "_" and "-", at most 64, not "import"',
        ),
      passwordHash: z
        .string(expect(BCRYPT_EXPECTED))
        .regex(BCRYPT_HASH, expect(BCRYPT_EXPECTED))
        .describe(
          'bcrypt hash of the password (cost 04 to 14), as printed by `caddy hash-password`',
        ),
    },
    expect('an object like {"user": "team", "passwordHash": "$2a$14$…"}'),
  )
  .describe(
    'basic auth in front of every preview (preview host names are public through certificate logs)',
  );

export const resourcesSchema = z
  .strictObject(
    {
      ...limits,
      previews: z
        .strictObject(
          limits,
          expect('an object like {"memory": "256M", "cpu": "50%", "buildTimeout": 600}'),
        )
        .optional()
        .describe('limits for preview environments, instead of the ones above'),
    },
    expect('an object like {"memory": "512M", "cpu": "100%", "previews": {"memory": "256M"}}'),
  )
  .describe(
    'per-environment limits: systemd MemoryMax= and CPUQuota= of the app and its deployScript, and how long deployScript may run; previews always get the ones production last deployed with, and a preview app with no memory limit gets 512M (its deployScript none)',
  );

const ENV_KEY_EXPECTED = `environment names (${ENV_NAME_RULE})`;
const DURATION_EXPECTED = 'a time like "30s", "15m", "2h" or "7d"';
const SLEEP_EXPECTED = `${DURATION_EXPECTED.replace('a time', '"off" or a time')}, at least 10 seconds`;
const DURATION = /^([1-9][0-9]{0,5})([smhd])$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** Seconds in a toss.json time like "15m" (the schema accepted it). */
export function durationSeconds(text: string): number {
  const match = DURATION.exec(text);
  if (match === null) throw new TypeError(`not a time: ${JSON.stringify(text)}`);
  return Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
}

const duration = z.string(expect(DURATION_EXPECTED)).regex(DURATION, expect(DURATION_EXPECTED));
const sleepAfter = z
  .string(expect(SLEEP_EXPECTED))
  .refine(
    (s) => s === 'off' || (DURATION.test(s) && durationSeconds(s) >= 10),
    expect(SLEEP_EXPECTED),
  );
const FLOOR_EXPECTED = 'a size like "256M" or "1G", or "0" for no floor';
const MEMORY_SIZE = /^(?:0|[1-9][0-9]{0,6}[KMG])$/;

/** The one place a preview's idle time is decided (see sleepAfterOf). */
export const DEFAULT_PREVIEW_SLEEP = '15m';
export const DEFAULT_MEMORY_FLOOR = '256M';

/**
 * A Caddy DNS provider and its arguments, as `tls { dns … }` takes them: the provider's module
 * name, then plain tokens or `{env.NAME}` placeholders, so credentials stay out of toss.json and
 * the text is Caddyfile tokens and nothing else.
 */
export const DNS_PROVIDER =
  /^[a-z][a-z0-9_]*(?: (?:\{env\.[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z0-9._:-]+))*$/;
const DNS_PROVIDER_EXPECTED =
  'a Caddy DNS provider and its arguments, like "cloudflare {env.CF_API_TOKEN}" (credentials as {env.NAME})';

export const previewsSchema = z
  .strictObject(
    {
      sleepAfter: sleepAfter
        .default(DEFAULT_PREVIEW_SLEEP)
        .describe(
          'a preview with no request for this long stops, and starts again on the next request (which waits for it); "off" keeps previews running',
        ),
      ttl: duration
        .optional()
        .describe('a preview not deployed for this long is removed by `toss sweep`, like "14d"'),
      memoryFloor: z
        .string(expect(FLOOR_EXPECTED))
        .regex(MEMORY_SIZE, expect(FLOOR_EXPECTED))
        .default(DEFAULT_MEMORY_FLOOR)
        .describe(
          'memory the server keeps for production: a preview that would start with less available is refused (after idle previews are put to sleep)',
        ),
      tls: z
        .enum(['on-demand', 'wildcard'], expect('"on-demand" or "wildcard"'))
        .default('on-demand')
        .describe(
          'with tls "auto": "on-demand" (default) gets a preview its own certificate at its first HTTPS visit, and only while it is deployed; "wildcard" serves every preview from one *.<previewDomain> certificate obtained by DNS challenge (needs a Caddy built with the DNS provider module named in previews.dns; Debian\'s Caddy has none)',
        ),
      dns: z
        .string(expect(DNS_PROVIDER_EXPECTED))
        .max(200, expect(DNS_PROVIDER_EXPECTED))
        .regex(DNS_PROVIDER, expect(DNS_PROVIDER_EXPECTED))
        .optional()
        .describe(
          'previews.tls "wildcard": the Caddy DNS provider and its arguments, credentials as {env.NAME} placeholders set in caddy.service\'s environment, like "cloudflare {env.CF_API_TOKEN}"',
        ),
      hostNames: z
        .enum(['nested', 'flat'], expect('"nested" or "flat"'))
        .default('nested')
        .describe(
          'preview host names: "nested" (default) pr-42.<previewDomain>; "flat" pr-42-<app>.<previewDomain or domain>, one label deep, for DNS proxies whose certificates cover one level only',
        ),
    },
    expect('an object like {"sleepAfter": "15m", "ttl": "14d"}'),
  )
  .refine((previews) => previews.tls !== 'wildcard' || previews.dns !== undefined, {
    path: ['dns'],
    message:
      'required with previews.tls "wildcard": the DNS provider Caddy solves the challenge with, like "cloudflare {env.CF_API_TOKEN}"',
  })
  .describe(
    'how previews live on a shared server: sleeping when idle, removal, memory kept for production, their certificates and host names',
  );

export const tossConfigSchema = z
  .strictObject(
    {
      $schema: z
        .string(expect('the path or URL of toss.schema.json'))
        .optional()
        .describe('path or URL of toss.schema.json, so editors complete and check this file'),
      app: z
        .string(expect(APP_EXPECTED))
        .max(40, expect(APP_EXPECTED))
        .regex(ENV_NAME_PATTERN, expect(APP_EXPECTED))
        .describe(
          'app name: lowercase letters, digits and single dashes, at most 40 characters; used in directories, unit names and Caddy file names',
        ),
      server: sshTarget.describe(
        'SSH target: "host", "user@host", "user@host:port", "user@[2001:db8::1]:2222" or a ~/.ssh/config alias; user defaults to root, port to 22',
      ),
      servers: z
        .array(fleetServerSchema, expect('an array of servers, like [{"server": "deploy@web2"}]'))
        .min(1, expect('at least one server (or leave "servers" out)'))
        .max(50, expect('at most 50 servers'))
        .optional()
        .describe(
          'more servers production runs on, besides `server` (which holds the lock and the previews); every deploy of production goes to all of them, rolling and health-gated',
        ),
      front: frontSchema.optional(),
      worker: workerSchema.optional(),
      rollout: rolloutSchema.optional(),
      domain: hostName(HOST_EXPECTED, 253)
        .optional()
        .describe(
          'production host name; without it, sslip.io names derived from the server IP are used',
        ),
      previewDomain: hostName(PREVIEW_DOMAIN_EXPECTED, 189)
        .optional()
        .describe('parent of preview host names (pr-42.<previewDomain>); default preview.<domain>'),
      startCommand: z
        .string(expect(START_EXPECTED))
        .refine((s) => !isBlank(s) && !hasControl(s), expect(START_EXPECTED))
        .optional()
        .describe(
          'command that starts the app (run by /bin/sh -c); it must listen on $PORT. Required unless the site is static',
        ),
      static: z
        .string(expect(STATIC_EXPECTED))
        .max(255, expect(STATIC_EXPECTED))
        .regex(STATIC_DIR, expect(STATIC_EXPECTED))
        .refine((s) => !hasControl(s), expect(STATIC_EXPECTED))
        .optional()
        .describe(
          'a static site: the directory of the release (after build and deployScript) that Caddy serves as files, like "dist" or "."; no process runs, so no startCommand',
        ),
      deployScript: z
        .array(command, expect(SCRIPT_EXPECTED))
        .min(1, expect(SCRIPT_EXPECTED))
        .optional()
        .default([])
        .describe(
          "shell commands run on the server in the new release directory on every deploy (install, build, migrate), as the environment's user; the first failure aborts the deploy",
        ),
      build: z
        .array(command, expect(SCRIPT_EXPECTED))
        .min(1, expect(SCRIPT_EXPECTED))
        .optional()
        .describe(
          'shell commands run where toss runs (the CI runner, your machine), in root, before the upload; the tree they leave is uploaded as built (node_modules and ignored files included, minus exclude and .tossignore); the first failure stops the deploy before the server is touched',
        ),
      cache: z
        .union(
          [
            z.literal(false),
            z.array(cachePath, expect(CACHE_EXPECTED)).min(1, expect(CACHE_EXPECTED)),
          ],
          expect(CACHE_EXPECTED),
        )
        .optional()
        .describe(
          'GitHub Action only: paths saved after a successful build and restored before the next (like "~/.npm" or ".next/cache", relative ones inside root); default: detected from the lockfiles in root; false turns it off',
        ),
      dependencies: z
        .record(
          z.string().regex(DEPENDENCY_NAME, expect(DEPENDENCY_NAME_EXPECTED)),
          command,
          expect(
            'an object of {"name": "install command"}, like {"ffmpeg": "apt-get install -y ffmpeg"}',
          ),
        )
        .default({})
        .describe(
          'server packages: {name: install command}, run as root once per server by `toss init` and production deploys',
        ),
      persistentDirs: z
        .array(persistentDir, expect('an array of relative paths, like ["uploads", "data"]'))
        .superRefine((dirs, ctx) => {
          // Only well-formed paths are compared; the others already have their own problem.
          const valid = (dir: string) => RELATIVE_PATH.test(dir);
          dirs.forEach((dir, i) => {
            if (!valid(dir)) return;
            const clash = dirs.findIndex(
              (other, j) =>
                j !== i && valid(other) && (other === dir ? j < i : dir.startsWith(`${other}/`)),
            );
            if (clash !== -1) {
              ctx.addIssue({
                code: 'custom',
                path: [i],
                message: `expected directories that are neither repeated nor inside one another (see persistentDirs[${clash}])`,
              });
            }
          });
        })
        .default([])
        .describe(
          'relative paths kept across releases (uploads, SQLite files): no leading "/", no ".."',
        ),
      keepReleases: z
        .number(expect('a whole number ≥ 2'))
        .int(expect('a whole number ≥ 2'))
        .min(2, expect('a whole number ≥ 2'))
        .default(3)
        .describe('releases kept for production, at least 2; previews keep 2'),
      healthCheck: healthCheckSchema.optional(),
      stopTimeout: z
        .number(expect('a whole number of seconds from 1 to 3600'))
        .int(expect('a whole number of seconds from 1 to 3600'))
        .min(1, expect('a whole number of seconds from 1 to 3600'))
        .max(3600, expect('a whole number of seconds from 1 to 3600'))
        .default(30)
        .describe(
          'seconds an instance has to finish its work after SIGTERM before it is killed (systemd TimeoutStopSec)',
        ),
      readOnly: z
        .boolean(expect('true or false'))
        .default(false)
        .describe(
          'true: the release is read-only for the app (only persistentDirs, TOSS_CACHE_DIR and a private /tmp are writable); default false: the app may write in its release directory, and what it writes goes with the release',
        ),
      drainTimeout: z
        .number(expect(DRAIN_EXPECTED))
        .int(expect(DRAIN_EXPECTED))
        .min(0, expect(DRAIN_EXPECTED))
        .max(3600, expect(DRAIN_EXPECTED))
        .default(30)
        .describe(
          'seconds the old instance may keep serving the requests it already accepted after the switch; it stops as soon as none are left',
        ),
      branches: z
        .preprocess(
          rejectProtoKey,
          z.record(
            z
              .string()
              .max(255, expect(BRANCH_EXPECTED))
              .regex(/^\S+$/, expect(BRANCH_EXPECTED))
              .refine((s) => !hasControl(s), expect(BRANCH_EXPECTED)),
            z
              .string(expect(ENV_TARGET_EXPECTED))
              .max(ENV_NAME_MAX_LENGTH, expect(ENV_TARGET_EXPECTED))
              .regex(ENV_NAME_PATTERN, expect(ENV_TARGET_EXPECTED))
              .refine((s) => !isPrEnvName(s), expect(ENV_TARGET_EXPECTED)),
            expect('an object mapping branches to environments, like {"main": "production"}'),
          ),
        )
        .optional()
        .describe(
          'push branch (or pattern like "feature/*") → environment for the GitHub Action; "preview" means a preview named after the branch; default: the default branch → production',
        ),
      tls: z
        .enum(['auto', 'internal', 'off'], expect('"auto", "internal" or "off"'))
        .default('auto')
        .describe(
          'auto: automatic HTTPS from a public CA; internal: Caddy’s own CA (private networks, tests); off: plain HTTP',
        ),
      previewAuth: previewAuthSchema.optional(),
      previews: previewsSchema.prefault({}),
      sleepAfter: z
        .preprocess(
          rejectProtoKey,
          z.record(
            z
              .string()
              .max(ENV_NAME_MAX_LENGTH, expect(ENV_KEY_EXPECTED))
              .regex(ENV_NAME_PATTERN, expect(ENV_KEY_EXPECTED)),
            sleepAfter,
            expect('an object mapping environments to idle times, like {"staging": "1h"}'),
          ),
        )
        .optional()
        .describe(
          'named environments that sleep when idle, like {"staging": "1h"}; production sleeps only if named here',
        ),
      noindex: z
        .boolean(expect('true or false'))
        .default(false)
        .describe('true: every environment answers with X-Robots-Tag: noindex; previews always do'),
      resources: resourcesSchema.optional(),
      database: databaseSchema.optional(),
      maxPreviews: z
        .number(expect(MAX_PREVIEWS_EXPECTED))
        .int(expect(MAX_PREVIEWS_EXPECTED))
        .min(0, expect(MAX_PREVIEWS_EXPECTED))
        .max(1000, expect(MAX_PREVIEWS_EXPECTED))
        .default(20)
        .describe('a new preview past this many is refused, naming the oldest ones'),
      root: z
        .string(expect(ROOT_EXPECTED))
        .max(255, expect(ROOT_EXPECTED))
        .regex(LOCAL_RELATIVE_PATH, expect(ROOT_EXPECTED))
        .refine((s) => !hasControl(s), expect(ROOT_EXPECTED))
        .default('.')
        .describe('subdirectory of the repository to deploy (monorepos)'),
      exclude: z
        .array(
          z
            .string(expect(EXCLUDE_EXPECTED))
            .min(1, expect(EXCLUDE_EXPECTED))
            .max(1024, expect(EXCLUDE_EXPECTED))
            .refine((s) => !hasControl(s), expect(EXCLUDE_EXPECTED))
            .regex(EXCLUDE_PLAIN, expect(EXCLUDE_PLAIN_EXPECTED)),
          expect('an array of rsync patterns, like ["*.log", "/tmp/"]'),
        )
        .default([])
        .describe('rsync exclude patterns added to the defaults, .gitignore and .tossignore'),
    },
    expect('a JSON object with at least "app", "server" and "startCommand" (or "static")'),
  )
  // Checked even when other fields have problems, so a file missing both says so with the rest.
  .refine((config) => config.startCommand !== undefined || config.static !== undefined, {
    path: ['startCommand'],
    message: 'required (or "static" for a site served as files)',
    when: (payload) => isObject(payload.value),
  })
  .refine((config) => config.startCommand === undefined || config.static === undefined, {
    path: ['static'],
    message:
      'expected either "static" (a site served as files) or "startCommand" (an app), not both',
    when: (payload) => isObject(payload.value),
  })
  .superRefine((config, ctx) => fleetProblems(config, ctx))
  .describe(
    'toss.json: how toss deploys this repository to your server (rsync, systemd and Caddy over SSH)',
  );

/** What servers, front and worker must agree on, beyond each field's own checks. */
function fleetProblems(
  config: {
    server: string;
    servers?: { server: string; role: string; private?: string | undefined }[] | undefined;
    front?: { private: string } | undefined;
    worker?: unknown;
    static?: string | undefined;
    database?: unknown;
    domain?: string | undefined;
  },
  ctx: { addIssue: (issue: z.core.$ZodRawIssue) => void },
): void {
  const servers = config.servers ?? [];
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: 'custom', path, message, input: config });
  const seen = new Set([config.server]);
  servers.forEach((entry, i) => {
    if (seen.has(entry.server)) {
      issue(
        ['servers', i, 'server'],
        `expected each server once (${entry.server} is there already)`,
      );
    }
    seen.add(entry.server);
    if (config.front !== undefined && entry.role === 'web' && entry.private === undefined) {
      issue(
        ['servers', i, 'private'],
        'required with "front": the address the front reaches it at',
      );
    }
  });
  if (servers.some((entry) => entry.role === 'worker') && config.worker === undefined) {
    issue(['worker'], 'required when a server has role "worker": {"startCommand": "…"}');
  }
  const webServers = servers.some((entry) => entry.role === 'web');
  if (webServers && config.front === undefined && config.domain === undefined) {
    issue(
      ['domain'],
      'required with several web servers and no "front": the name whose DNS points at every one of them',
    );
  }
  if (config.front !== undefined && servers.length === 0) {
    issue(['front'], 'expected "servers" too: a front balances across several web servers');
  }
  if (servers.length > 0 && config.database !== undefined) {
    issue(
      ['database'],
      "expected no database with several servers: each server's own PostgreSQL would split production's data (keep DATABASE_URL of a shared database in the secrets instead)",
    );
  }
  if (servers.length > 0 && config.static !== undefined) {
    issue(
      ['servers'],
      'expected one server for a static site (serve it from a CDN or DNS instead)',
    );
  }
  const privates = [config.front?.private, ...servers.map((entry) => entry.private)].filter(
    (address): address is string => address !== undefined,
  );
  if (new Set(privates).size !== privates.length) {
    issue(['servers'], 'expected a different private address for each server');
  }
}

/** toss.json after validation, defaults applied. */
export type TossConfig = z.output<typeof tossConfigSchema>;
/** toss.json as written. */
export type TossConfigInput = z.input<typeof tossConfigSchema>;
export type HealthCheck = z.output<typeof healthCheckSchema>;
export type PreviewAuth = z.output<typeof previewAuthSchema>;
export type Resources = z.output<typeof resourcesSchema>;
export type Previews = z.output<typeof previewsSchema>;
export type Database = z.output<typeof databaseSchema>;
export type Tls = TossConfig['tls'];
export type FleetServer = z.output<typeof fleetServerSchema>;
