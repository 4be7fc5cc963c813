/** What goes into the test-host rootfs; its hash is the cache key. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEBIAN_KEYRING } from './prerequisites.js';

export const SUITE = 'bookworm';
const FALLBACK_MIRROR = 'http://deb.debian.org/debian';

export const PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'libpam-systemd',
  'openssh-server',
  'sudo',
  'rsync',
  'caddy',
  'curl',
  'ca-certificates',
  'iproute2',
  'procps',
  'python3',
  // Priority "required" in Debian 12, so on every real server; mmdebstrap's apt variant leaves it
  // out. It must be in the image: inside a booted host systemd-nspawn bind-mounts /etc/localtime,
  // so tzdata's postinst fails there and with it anything that depends on it (postgresql, which
  // toss init installs on the bare image).
  'tzdata',
  // Debian's own Node, for the example app.
  'nodejs',
  // The runtimes examples/flask and examples/rack declare in toss.json `dependencies`: the test
  // hosts have no route out, so the image carries them and the apt-get install a production
  // deploy runs finds them installed.
  'gunicorn',
  'python3-flask',
  'puma',
  'ruby-rack',
  // A database per environment (toss.json `database`): Debian 12's PostgreSQL 15, whose package
  // creates and starts the cluster 15/main on /var/run/postgresql, port 5432, with local peer
  // authentication; and the driver examples/notes uses. The bare image has no PostgreSQL: toss
  // init installs it there, from the local repository (support/apt-repo.ts).
  'postgresql',
  'python3-psycopg2',
  // A small ACME server (binaries only), so certificates from a CA like Let's Encrypt can be
  // obtained on a host with no route out: tls-on-demand.test.ts writes its config and starts it.
  'pebble',
];

const DPKG_EXCLUDES = [
  '/usr/share/doc/*',
  '/usr/share/man/*',
  '/usr/share/info/*',
  '/usr/share/locale/*',
  '/usr/share/lintian/*',
];

/**
 * `default`: everything toss needs already installed. `bare`: the same minus what `toss init`
 * installs (Caddy, rsync, and PostgreSQL for an app with a database), a fresh VPS for
 * provisioning tests.
 */
export type Image = 'default' | 'bare';
const BARE_WITHOUT = new Set(['caddy', 'rsync', 'postgresql']);

export const CUSTOMIZE_SCRIPT = fileURLToPath(new URL('./rootfs-customize.sh', import.meta.url));

/** mmdebstrap options other than the mirror, hook path and output (those do not change the image). */
export function recipeArgs(image: Image = 'default'): string[] {
  const packages = image === 'bare' ? PACKAGES.filter((p) => !BARE_WITHOUT.has(p)) : PACKAGES;
  return [
    '--variant=apt',
    `--include=${packages.join(',')}`,
    ...DPKG_EXCLUDES.map((p) => `--dpkgopt=path-exclude=${p}`),
  ];
}

export function recipeHash(image: Image = 'default'): string {
  const h = createHash('sha256');
  // The default image's key is unchanged by the image option, so its cache stays valid.
  const recipe = { v: 1, suite: SUITE, args: recipeArgs(image) };
  h.update(JSON.stringify(image === 'default' ? recipe : { ...recipe, image }));
  h.update(readFileSync(CUSTOMIZE_SCRIPT));
  return h.digest('hex').slice(0, 16);
}

function parseDeb822(text: string): Record<string, string>[] {
  return text
    .split(/\n\s*\n/)
    .map((stanza) => {
      const fields: Record<string, string> = {};
      for (const line of stanza.split('\n')) {
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (m?.[1] && m[2] !== undefined) fields[m[1].toLowerCase()] = m[2].trim();
      }
      return fields;
    })
    .filter((f) => f.uris);
}

/** This machine's own Debian mirror (it may be the only one reachable); undefined off Debian. */
function localDebianMirror(): string | undefined {
  const isMain = (suites: string[], uri: string) =>
    !uri.includes('security') && suites.some((s) => /^[a-z]+$/.test(s));
  const d822 = '/etc/apt/sources.list.d/debian.sources';
  if (existsSync(d822)) {
    for (const s of parseDeb822(readFileSync(d822, 'utf8'))) {
      const uri = s.uris?.split(/\s+/)[0];
      if (
        uri &&
        (s.types ?? 'deb').split(/\s+/).includes('deb') &&
        isMain((s.suites ?? '').split(/\s+/), uri)
      ) {
        return uri;
      }
    }
  }
  const list = '/etc/apt/sources.list';
  if (existsSync(list)) {
    for (const line of readFileSync(list, 'utf8').split('\n')) {
      // deb [options] URI suite components…
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
      if (m?.[1] && m[2] && /\/debian\/?$/.test(m[1]) && isMain([m[2]], m[1])) return m[1];
    }
  }
  return undefined;
}

/** Mirror and, when it is not this machine's own Debian setup, the keyring to trust it with. */
export function mirrorArgs(): { mirror: string; extra: string[] } {
  const local = localDebianMirror();
  if (local) return { mirror: local, extra: [] };
  // Ubuntu and others: Debian's archive, verified with debian-archive-keyring (untested here).
  return { mirror: FALLBACK_MIRROR, extra: [`--keyring=${DEBIAN_KEYRING}`] };
}
