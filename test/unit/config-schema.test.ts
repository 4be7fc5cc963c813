import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderJsonSchema } from '../../src/config/json-schema.js';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const minimal = {
  app: 'myapp',
  server: 'root@203.0.113.10',
  startCommand: 'node server.js',
  deployScript: ['npm ci'],
};

const full = {
  $schema: './node_modules/toss/toss.schema.json',
  app: 'my-app2',
  server: 'deploy@[2001:db8::1]:2222',
  servers: [
    { server: 'deploy@web2.myapp.com', role: 'web', private: '10.0.0.3' },
    { server: 'jobs', role: 'worker' },
  ],
  front: { private: '10.0.0.2', port: 2080 },
  worker: { startCommand: 'node worker.js' },
  rollout: { batch: 2 },
  domain: 'myapp.com',
  previewDomain: 'preview.myapp.com',
  startCommand: 'node server.js',
  deployScript: ['npm ci', 'npm run build', 'if [ -f x ]; then\n\techo ok\nfi'],
  build: ['npm ci', 'npm run build'],
  cache: ['~/.npm', '.next/cache', '/opt/cache'],
  dependencies: { ffmpeg: 'apt-get install -y ffmpeg', 'python3.12': 'apt-get install -y python3' },
  persistentDirs: ['uploads', 'data/db', '.cache'],
  keepReleases: 5,
  healthCheck: { path: '/up?full=1', timeout: 60 },
  stopTimeout: 45,
  readOnly: true,
  drainTimeout: 60,
  branches: { main: 'production', develop: 'staging', 'feature/*': 'preview' },
  tls: 'internal',
  previewAuth: {
    user: 'team',
    passwordHash: '$2a$14$ajq8Q7fbtFRQvXpdCq7Jcuy.Rx1h/L4J60Otx.gsPJBxBmmL1jWwW',
  },
  previews: {
    sleepAfter: '30m',
    ttl: '14d',
    memoryFloor: '512M',
    tls: 'on-demand',
    hostNames: 'nested',
  },
  sleepAfter: { staging: '2h', production: 'off' },
  noindex: true,
  resources: { memory: '512M', cpu: '100%', previews: { memory: '256M', cpu: '50%' } },
  maxPreviews: 0,
  root: './apps/web',
  exclude: ['*.log', '/tmp/'],
};

function problems(json: unknown): string[] {
  try {
    parseConfig(json);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const with_ = (fields: Record<string, unknown>) => ({ ...minimal, ...fields });

const APP =
  'expected an app name of lowercase letters, digits and single dashes, starting with a letter, at most 40 characters (like "myapp")';
const DIR =
  'expected a relative path like "uploads" or "data/db" (no leading "/", no empty, "." or ".." parts)';
const COMMAND =
  'expected a non-empty shell command without control characters other than tab and newline';
const ENV_TARGET =
  'expected an environment name (lowercase letters, digits and single dashes, starting with a letter, at most 63 characters; not pr-<n>), or "preview" for a preview named after the branch';
const MEMORY = 'expected a size like "512M" or "1G", a percentage like "50%", or "infinity"';
const ROOT = 'expected a relative directory like "." or "apps/web" (no leading "/", no "..")';
const EXCLUDE_PLAIN =
  'expected a plain exclude pattern: no "!" (rsync would clear the list, and patterns cannot be negated) and no "+ " or "- " rule prefix (.git, node_modules, .env*, .DS_Store and .toss are never uploaded)';

describe('parseConfig: valid toss.json', () => {
  it('applies the defaults to a minimal file', () => {
    expect(parseConfig(minimal)).toEqual({
      ...minimal,
      dependencies: {},
      persistentDirs: [],
      keepReleases: 3,
      stopTimeout: 30,
      readOnly: false,
      drainTimeout: 30,
      tls: 'auto',
      previews: { sleepAfter: '15m', memoryFloor: '256M', tls: 'on-demand', hostNames: 'nested' },
      noindex: false,
      maxPreviews: 20,
      root: '.',
      exclude: [],
    });
  });

  it('keeps every field of a full file', () => {
    expect(parseConfig(full)).toEqual(full);
    const { servers: _s, front: _f, worker: _w, rollout: _r, ...oneServer } = full;
    const database = { engine: 'postgres', seed: 'db/seed.sql' };
    expect(parseConfig({ ...oneServer, database }).database).toEqual(database);
  });

  it.each<[string, Record<string, unknown>]>([
    ['an ~/.ssh/config alias', { server: 'prod' }],
    ['a bare IPv6 server', { server: '2001:db8::1' }],
    ['a host name with a port', { server: 'deploy@myapp.com:2222' }],
    ['healthCheck without timeout (default 30)', { healthCheck: { path: '/' } }],
    ['keepReleases at its minimum', { keepReleases: 2 }],
    ['stopTimeout at its bounds', { stopTimeout: 1 }],
    ['stopTimeout at its upper bound', { stopTimeout: 3600 }],
    ['a drain of 0 (stop at once)', { drainTimeout: 0 }],
    ['a static site instead of an app', { startCommand: undefined, static: 'dist' }],
    ['a static site served from root', { startCommand: undefined, static: '.' }],
    ['a static site in a subdirectory', { startCommand: undefined, static: './public/site/' }],
    ['memory "infinity" and a percentage', { resources: { memory: 'infinity', cpu: '250%' } }],
    ['memory as a share of RAM', { resources: { memory: '50%' } }],
    ['a punycode domain', { domain: 'xn--bcher-kva.example' }],
    ['a branch named "preview"', { branches: { preview: 'preview' } }],
    ['an empty exclude list', { exclude: [] }],
    ['previews that never sleep', { previews: { sleepAfter: 'off' } }],
    ['a sleep of ten seconds', { previews: { sleepAfter: '10s' } }],
    ['no memory floor', { previews: { memoryFloor: '0' } }],
    ['production asked to sleep', { sleepAfter: { production: '1d' } }],
  ])('accepts %s', (_name, fields) => {
    expect(() => parseConfig(with_(fields))).not.toThrow();
  });

  it('fills in the healthCheck timeout', () => {
    expect(parseConfig(with_({ healthCheck: { path: '/up' } })).healthCheck).toEqual({
      path: '/up',
      timeout: 30,
    });
  });
});

describe('parseConfig: one line per problem', () => {
  it.each<[string, unknown, string[]]>([
    [
      'keepReleases given as a word instead of a number',
      with_({ keepReleases: 'three' }),
      ['toss.json: keepReleases: expected a whole number ≥ 2, got "three"'],
    ],
    [
      'stopTimeout of zero',
      with_({ stopTimeout: 0 }),
      ['toss.json: stopTimeout: expected a whole number of seconds from 1 to 3600, got 0'],
    ],
    [
      'both a static site and a startCommand',
      with_({ static: 'dist' }),
      [
        'toss.json: static: expected either "static" (a site served as files) or "startCommand" (an app), not both, got "dist"',
      ],
    ],
    [
      'a static directory outside the release',
      with_({ startCommand: undefined, static: '../site' }),
      [
        'toss.json: static: expected a relative directory like "dist", "public/site" or "." (names of letters, digits, ".", "_" and "-", none starting with "."), got "../site"',
      ],
    ],
    [
      'a sleep shorter than ten seconds',
      with_({ previews: { sleepAfter: '5s' } }),
      [
        'toss.json: previews.sleepAfter: expected "off" or a time like "30s", "15m", "2h" or "7d", at least 10 seconds, got "5s"',
      ],
    ],
    [
      'a sleep time without its unit',
      with_({ sleepAfter: { staging: '900' } }),
      [
        'toss.json: sleepAfter.staging: expected "off" or a time like "30s", "15m", "2h" or "7d", at least 10 seconds, got "900"',
      ],
    ],
    [
      'a ttl of no time',
      with_({ previews: { ttl: '0d' } }),
      ['toss.json: previews.ttl: expected a time like "30s", "15m", "2h" or "7d", got "0d"'],
    ],
    [
      'readOnly as a word',
      with_({ readOnly: 'yes' }),
      ['toss.json: readOnly: expected true or false, got "yes"'],
    ],
    [
      'a negative drainTimeout',
      with_({ drainTimeout: -1 }),
      ['toss.json: drainTimeout: expected a whole number of seconds from 0 to 3600, got -1'],
    ],
    [
      'keepReleases below 2',
      with_({ keepReleases: 1 }),
      ['toss.json: keepReleases: expected a whole number ≥ 2, got 1'],
    ],
    [
      'keepReleases not whole',
      with_({ keepReleases: 2.5 }),
      ['toss.json: keepReleases: expected a whole number ≥ 2, got 2.5'],
    ],
    ['unknown top-level field', with_({ foo: 1 }), ['toss.json: unknown field "foo"']],
    [
      'unknown nested field and the missing one',
      with_({ healthCheck: { paht: '/up' } }),
      ['toss.json: healthCheck.path: required', 'toss.json: healthCheck: unknown field "paht"'],
    ],
    [
      'every required field missing',
      {},
      [
        'toss.json: app: required',
        'toss.json: server: required',
        'toss.json: startCommand: required (or "static" for a site served as files)',
      ],
    ],
    [
      'not an object',
      [],
      [
        'toss.json: expected a JSON object with at least "app", "server" and "startCommand" (or "static"), got []',
      ],
    ],
    ['app with capitals', with_({ app: 'MyApp' }), [`toss.json: app: ${APP}, got "MyApp"`]],
    [
      'app with a double dash',
      with_({ app: 'my--app' }),
      [`toss.json: app: ${APP}, got "my--app"`],
    ],
    [
      'app longer than 40',
      with_({ app: 'a'.repeat(41) }),
      [`toss.json: app: ${APP}, got "${'a'.repeat(38)}…`],
    ],
    ['app null', with_({ app: null }), [`toss.json: app: ${APP}, got null`]],
    [
      'server port out of range',
      with_({ server: 'root@host:70000' }),
      ['toss.json: server: expected a port from 1 to 65535 after ":", got "root@host:70000"'],
    ],
    [
      'server with a space',
      with_({ server: 'root@my host' }),
      [
        'toss.json: server: expected an SSH target without spaces or control characters, got "root@my host"',
      ],
    ],
    [
      'domain with capitals',
      with_({ domain: 'MyApp.com' }),
      ['toss.json: domain: expected a lowercase host name like "myapp.com", got "MyApp.com"'],
    ],
    [
      'domain that is an IP address',
      with_({ domain: '203.0.113.10' }),
      ['toss.json: domain: expected a lowercase host name like "myapp.com", got "203.0.113.10"'],
    ],
    [
      'previewDomain with a wildcard',
      with_({ previewDomain: '*.myapp.com' }),
      [
        'toss.json: previewDomain: expected a lowercase host name like "preview.myapp.com", at most 189 characters so that preview names fit, got "*.myapp.com"',
      ],
    ],
    [
      'startCommand on two lines',
      with_({ startCommand: 'node a.js\nnode b.js' }),
      [
        'toss.json: startCommand: expected a command on one line, like "node server.js", got "node a.js\\nnode b.js"',
      ],
    ],
    [
      'startCommand blank',
      with_({ startCommand: '   ' }),
      ['toss.json: startCommand: expected a command on one line, like "node server.js", got "   "'],
    ],
    [
      'deployScript empty',
      with_({ deployScript: [] }),
      [
        'toss.json: deployScript: expected a non-empty array of shell commands, like ["npm ci", "npm run build"], got []',
      ],
    ],
    [
      'deployScript a string',
      with_({ deployScript: 'npm ci' }),
      [
        'toss.json: deployScript: expected a non-empty array of shell commands, like ["npm ci", "npm run build"], got "npm ci"',
      ],
    ],
    [
      'deployScript entries empty, with NUL, not a string',
      with_({ deployScript: ['npm ci', '', 'a\u0000b', 5] }),
      [
        `toss.json: deployScript[1]: ${COMMAND}, got ""`,
        `toss.json: deployScript[2]: ${COMMAND}, got "a\\u0000b"`,
        `toss.json: deployScript[3]: ${COMMAND}, got 5`,
      ],
    ],
    [
      'build empty',
      with_({ build: [] }),
      [
        'toss.json: build: expected a non-empty array of shell commands, like ["npm ci", "npm run build"], got []',
      ],
    ],
    [
      'build entry with a NUL',
      with_({ build: ['npm ci', 'a\u0000b'] }),
      [`toss.json: build[1]: ${COMMAND}, got "a\\u0000b"`],
    ],
    [
      'cache true, empty, with "..", "!", "~user" and a blank path',
      with_({ cache: true }),
      [
        'toss.json: cache: expected false, or an array of paths like ["~/.npm", ".next/cache"] (relative to root, under ~/, or absolute; no ".." parts), got true',
      ],
    ],
    [
      'cache paths that leave root, exclude, or name another home',
      with_({ cache: ['../up', '!x', '~bob/.npm', ' ', '~'] }),
      [
        'toss.json: cache[0]: expected false, or an array of paths like ["~/.npm", ".next/cache"] (relative to root, under ~/, or absolute; no ".." parts), got "../up"',
        'toss.json: cache[1]: expected false, or an array of paths like ["~/.npm", ".next/cache"] (relative to root, under ~/, or absolute; no ".." parts), got "!x"',
        'toss.json: cache[2]: expected false, or an array of paths like ["~/.npm", ".next/cache"] (relative to root, under ~/, or absolute; no ".." parts), got "~bob/.npm"',
        'toss.json: cache[3]: expected false, or an array of paths like ["~/.npm", ".next/cache"] (relative to root, under ~/, or absolute; no ".." parts), got " "',
        'toss.json: cache[4]: expected false, or an array of paths like ["~/.npm", ".next/cache"] (relative to root, under ~/, or absolute; no ".." parts), got "~"',
      ],
    ],
    [
      'dependency name with a space, empty command',
      with_({ dependencies: { 'lib vips': 'apt-get install -y libvips', node: '' } }),
      [
        'toss.json: dependencies: expected dependency names of letters, digits, ".", "_", "+" and "-", at most 64 characters, got "lib vips"',
        `toss.json: dependencies.node: ${COMMAND}, got ""`,
      ],
    ],
    [
      'persistentDirs absolute, with .., empty, with ./',
      with_({ persistentDirs: ['/var/data', 'a/../b', '', './uploads', 'uploads/'] }),
      [
        `toss.json: persistentDirs[0]: ${DIR}, got "/var/data"`,
        `toss.json: persistentDirs[1]: ${DIR}, got "a/../b"`,
        `toss.json: persistentDirs[2]: ${DIR}, got ""`,
        `toss.json: persistentDirs[3]: ${DIR}, got "./uploads"`,
        `toss.json: persistentDirs[4]: ${DIR}, got "uploads/"`,
      ],
    ],
    [
      'persistentDirs repeated and nested',
      with_({ persistentDirs: ['data', 'data', 'data/db'] }),
      [
        'toss.json: persistentDirs[1]: expected directories that are neither repeated nor inside one another (see persistentDirs[0]), got "data"',
        'toss.json: persistentDirs[2]: expected directories that are neither repeated nor inside one another (see persistentDirs[0]), got "data/db"',
      ],
    ],
    [
      'healthCheck path without a slash, timeout too long',
      with_({ healthCheck: { path: 'up', timeout: 601 } }),
      [
        'toss.json: healthCheck.path: expected a URL path starting with "/", like "/up", got "up"',
        'toss.json: healthCheck.timeout: expected a whole number of seconds from 1 to 600, got 601',
      ],
    ],
    [
      'healthCheck not an object',
      with_({ healthCheck: '/up' }),
      ['toss.json: healthCheck: expected an object like {"path": "/up", "timeout": 30}, got "/up"'],
    ],
    [
      'branches to a bad name, a pr-<n> name, from a pattern with a space',
      with_({ branches: { main: 'Production', x: 'pr-42', 'a b': 'staging' } }),
      [
        `toss.json: branches.main: ${ENV_TARGET}, got "Production"`,
        `toss.json: branches.x: ${ENV_TARGET}, got "pr-42"`,
        'toss.json: branches: expected branch names or patterns like "main" or "feature/*", without spaces, got "a b"',
      ],
    ],
    [
      'branches key that is not an identifier',
      with_({ branches: { 'feature/*': 'Preview' } }),
      [`toss.json: branches["feature/*"]: ${ENV_TARGET}, got "Preview"`],
    ],
    [
      'branches key that an object cannot hold',
      JSON.parse(
        '{"app": "a", "server": "h", "startCommand": "s", "deployScript": ["d"], "branches": {"__proto__": "staging"}}',
      ),
      [
        'toss.json: branches.__proto__: expected a branch name other than "__proto__", got "staging"',
      ],
    ],
    [
      'tls unknown',
      with_({ tls: 'on' }),
      ['toss.json: tls: expected "auto", "internal" or "off", got "on"'],
    ],
    [
      'previewAuth with a plain password is not echoed',
      with_({ previewAuth: { user: 'a:b', passwordHash: 'hunter2' } }),
      [
        'toss.json: previewAuth.user: expected a user name of letters, digits, ".", "_" and "-", starting with a letter or digit, at most 64 long, other than "import", got "a:b"',
        'toss.json: previewAuth.passwordHash: expected a bcrypt hash with a cost from 04 to 14, like "$2a$14$…" from `caddy hash-password` (not a password), got (not shown)',
      ],
    ],
    [
      'resources with units systemd does not take',
      with_({ resources: { memory: '512MB', cpu: '1.5', previews: { memory: 1, disk: '1G' } } }),
      [
        `toss.json: resources.memory: ${MEMORY}, got "512MB"`,
        'toss.json: resources.cpu: expected a percentage of one CPU like "50%" or "200%", got "1.5"',
        `toss.json: resources.previews.memory: ${MEMORY}, got 1`,
        'toss.json: resources.previews: unknown field "disk"',
      ],
    ],
    [
      'maxPreviews negative',
      with_({ maxPreviews: -1 }),
      ['toss.json: maxPreviews: expected a whole number from 0 to 1000, got -1'],
    ],
    [
      'root escaping the repository',
      with_({ root: '../other' }),
      [`toss.json: root: ${ROOT}, got "../other"`],
    ],
    ['root absolute', with_({ root: '/srv' }), [`toss.json: root: ${ROOT}, got "/srv"`]],
    [
      'exclude with an empty pattern and a newline',
      with_({ exclude: ['', 'a\nb'] }),
      [
        'toss.json: exclude[0]: expected an rsync pattern like "*.log" or "/tmp/" (non-empty, one line), got ""',
        'toss.json: exclude[1]: expected an rsync pattern like "*.log" or "/tmp/" (non-empty, one line), got "a\\nb"',
      ],
    ],
    [
      'exclude patterns rsync would read as rules that clear or re-include the built-in excludes',
      with_({
        exclude: ['!', '!.env', '+ .git', '- node_modules', '+,! .env*', '-_x', '*.log', '-x'],
      }),
      ['!', '!.env', '+ .git', '- node_modules', '+,! .env*', '-_x'].map(
        (pattern, i) =>
          `toss.json: exclude[${i}]: ${EXCLUDE_PLAIN}, got ${JSON.stringify(pattern)}`,
      ),
    ],
    [
      '$schema not a string',
      with_({ $schema: 1 }),
      ['toss.json: $schema: expected the path or URL of toss.schema.json, got 1'],
    ],
    [
      'hostile unknown field name',
      with_({ '\u001b[31mred\u202e': 1 }),
      ['toss.json: unknown field "\\u001b[31mred\\u202e"'],
    ],
    [
      'hostile long value, escaped and cut',
      with_({ app: `\u0000${'x'.repeat(1000)}` }),
      [`toss.json: app: ${APP}, got "\\u0000${'x'.repeat(37)}…`],
    ],
  ])('%s', (_name, json, lines) => {
    expect(problems(json)).toEqual(lines);
  });

  it('prefixes lines with the file name as given', () => {
    expect(() => parseConfig(with_({ tls: 1 }), 'configs/toss.json')).toThrow(
      'configs/toss.json: tls: expected "auto", "internal" or "off", got 1',
    );
  });
});

describe('servers', () => {
  const base = { app: 'shop', server: 'web1', startCommand: 'node server.js' };

  it('takes web servers by default and a worker with its command', () => {
    const config = parseConfig({
      ...base,
      domain: 'shop.example.com',
      servers: [{ server: 'web2' }, { server: 'jobs', role: 'worker' }],
      worker: { startCommand: 'node worker.js' },
    });
    expect(config.servers).toEqual([
      { server: 'web2', role: 'web' },
      { server: 'jobs', role: 'worker' },
    ]);
    expect(config.rollout).toBeUndefined();
  });

  it.each([
    [
      'a worker without worker.startCommand',
      { servers: [{ server: 'jobs', role: 'worker' }] },
      'worker: required when a server has role "worker"',
    ],
    [
      'a web server without a private address behind a front',
      { servers: [{ server: 'web2' }], front: { private: '10.0.0.2' } },
      'servers[0].private: required with "front"',
    ],
    [
      'the same server twice',
      { servers: [{ server: 'web1' }] },
      'servers[0].server: expected each server once',
    ],
    [
      'a public address as a private one',
      { servers: [{ server: 'web2', private: '203.0.113.9' }], front: { private: '10.0.0.2' } },
      'expected an IPv4 address on a private network',
    ],
    [
      'two servers on one private address',
      { servers: [{ server: 'web2', private: '10.0.0.2' }], front: { private: '10.0.0.2' } },
      'expected a different private address for each server',
    ],
    [
      "a front port among the instances' ports (3000 and up)",
      {
        servers: [{ server: 'web2', private: '10.0.0.3' }],
        front: { private: '10.0.0.2', port: 3000 },
      },
      'front.port: expected a port from 1024 to 2999',
    ],
    [
      'several web servers with neither a front nor a domain',
      { servers: [{ server: 'web2' }] },
      'domain: required with several web servers and no "front"',
    ],
    [
      'a front without servers',
      { front: { private: '10.0.0.2' } },
      'front: expected "servers" too',
    ],
    [
      'a database on several servers',
      { servers: [{ server: 'web2' }], database: { engine: 'postgres' } },
      "database: expected no database with several servers: each server's own PostgreSQL would split production's data",
    ],
    [
      'a static site on several servers',
      { startCommand: undefined, static: 'dist', servers: [{ server: 'web2' }] },
      'expected one server for a static site',
    ],
  ])('refuses %s', (_what, more, message) => {
    expect(problems({ ...base, ...more }).join('\n')).toContain(message);
  });
});

describe('toss.schema.json', () => {
  it('is what the zod schema generates (run `npm run schema`)', () => {
    const committed = readFileSync(new URL('../../toss.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(renderJsonSchema());
  });

  it('describes every field and rejects unknown ones', () => {
    const schema = JSON.parse(renderJsonSchema());
    expect(schema.$id).toMatch(/toss\.schema\.json$/);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['app', 'server']);
    expect(schema.oneOf).toEqual([{ required: ['startCommand'] }, { required: ['static'] }]);
    for (const [name, field] of Object.entries<{ description?: string }>(schema.properties)) {
      expect(field.description, name).toBeTruthy();
    }
    // `static` takes startCommand's place in a static site's file, so `full` cannot have both.
    const keys = Object.keys(full);
    keys.splice(keys.indexOf('startCommand') + 1, 0, 'static');
    // Nor `database` beside `servers` (one server's PostgreSQL would split production's data).
    keys.splice(keys.indexOf('resources') + 1, 0, 'database');
    expect(Object.keys(schema.properties)).toEqual(keys);
  });
});
