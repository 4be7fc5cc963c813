/**
 * E2E support: pebble, Let's Encrypt's small ACME test server, inside a test host, with the
 * host's Caddy aimed at it. Debian's package ships the binaries only, so its TLS certificate (for
 * its own ACME endpoint on 127.0.0.1) is made here with openssl and its config is written here.
 * Validation is switched off (PEBBLE_VA_ALWAYS_VALID): the host has no DNS, and only whether and
 * when Caddy orders a certificate matters to these tests.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestHost } from '../harness/types.js';
import { inHost } from './app.js';

const run = promisify(execFile);

export const PEBBLE_DIR = '/etc/pebble';
/** The CA that signed pebble's own HTTPS certificate (Caddy's `acme_ca_root`). */
export const PEBBLE_TLS_CA = `${PEBBLE_DIR}/tls-ca.pem`;
export const PEBBLE_DIRECTORY = 'https://127.0.0.1:14000/dir';
const PEBBLE_MANAGEMENT = 'https://127.0.0.1:15000';
const PEBBLE_UNIT = 'pebble.service';
/** Where Caddy keeps what pebble issued: one directory per CA, named after its directory URL. */
export const CADDY_PEBBLE_CERTIFICATES =
  '/var/lib/caddy/.local/share/caddy/certificates/127.0.0.1-14000-dir';

/** A CA and, signed by it, a certificate for 127.0.0.1, made with this machine's openssl. */
async function makeTlsFiles(): Promise<{ ca: string; cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'toss-pebble-'));
  const at = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  try {
    await run('openssl', [
      'req',
      '-x509',
      ...ec,
      ...['-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '2'],
      ...['-subj', '/CN=toss test pebble TLS CA'],
      ...['-addext', 'basicConstraints=critical,CA:TRUE'],
      ...['-addext', 'keyUsage=critical,keyCertSign'],
    ]);
    await run('openssl', [
      'req',
      ...ec,
      ...['-keyout', at('key.pem'), '-out', at('req.csr'), '-subj', '/CN=127.0.0.1'],
    ]);
    writeFileSync(
      at('ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
    );
    await run('openssl', [
      'x509',
      '-req',
      ...['-in', at('req.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial'],
      ...['-out', at('cert.pem'), '-days', '2', '-extfile', at('ext')],
    ]);
    const read = (name: string) => readFileSync(at(name), 'utf8');
    return { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function writeInHost(host: TestHost, path: string, content: string): Promise<void> {
  const result = await host.exec(['tee', '--', path], { input: content });
  if (result.code !== 0) throw new Error(`writing ${path} in ${host.name}: ${result.stderr}`);
}

const CONFIG = {
  pebble: {
    listenAddress: '127.0.0.1:14000',
    managementListenAddress: '127.0.0.1:15000',
    certificate: `${PEBBLE_DIR}/cert.pem`,
    privateKey: `${PEBBLE_DIR}/key.pem`,
    httpPort: 5002,
    tlsPort: 5001,
    ocspResponderURL: '',
    externalAccountBindingRequired: false,
  },
};

export interface Pebble {
  /** pebble's issuing root (random per run), PEM: what a visitor's trust store would hold */
  root: string;
}

/**
 * Starts pebble in the host as a transient unit and makes the host trust its issuing root (as a
 * server trusts a public CA), so toss's own HTTPS checks of production pass as they would.
 */
export async function startPebble(host: TestHost): Promise<Pebble> {
  const tls = await makeTlsFiles();
  await inHost(host, ['install', '-d', '-m', '0755', PEBBLE_DIR]);
  await writeInHost(host, PEBBLE_TLS_CA, tls.ca);
  await writeInHost(host, `${PEBBLE_DIR}/cert.pem`, tls.cert);
  await writeInHost(host, `${PEBBLE_DIR}/key.pem`, tls.key);
  await writeInHost(host, `${PEBBLE_DIR}/config.json`, JSON.stringify(CONFIG));
  await inHost(host, [
    'systemd-run',
    `--unit=${PEBBLE_UNIT}`,
    '--setenv=PEBBLE_VA_ALWAYS_VALID=1',
    '--setenv=PEBBLE_VA_NOSLEEP=1',
    // Caddy retries a rejected nonce anyway; never rejecting one keeps the timings steady.
    '--setenv=PEBBLE_WFE_NONCEREJECT=0',
    '--',
    '/usr/bin/pebble',
    '-config',
    `${PEBBLE_DIR}/config.json`,
  ]);
  const root = await pebbleRoot(host);
  await writeInHost(host, '/usr/local/share/ca-certificates/toss-test-pebble.crt', root);
  await inHost(host, ['update-ca-certificates']);
  return { root };
}

/** pebble's issuing root from its management API, once it answers (within 10 s). */
async function pebbleRoot(host: TestHost): Promise<string> {
  const argv = ['curl', '-sSf', '--cacert', PEBBLE_TLS_CA, `${PEBBLE_MANAGEMENT}/roots/0`];
  let last = '';
  for (let i = 0; i < 100; i++) {
    const result = await host.exec(argv);
    if (result.code === 0 && result.stdout.includes('BEGIN CERTIFICATE')) return result.stdout;
    last = result.stderr;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pebble did not answer in 10 s: ${last}`);
}

/** The host's Caddyfile: Caddy's ACME CA is pebble; the user's own site keeps Caddy's local CA. */
export function caddyfileForPebble(): string {
  return `{
	acme_ca ${PEBBLE_DIRECTORY}
	acme_ca_root ${PEBBLE_TLS_CA}
	skip_install_trust
}

# The user's own site: toss must leave it alone.
https://harness.test {
	tls internal
	respond "user site"
}
`;
}

export async function aimCaddyAtPebble(host: TestHost): Promise<void> {
  await writeInHost(host, '/etc/caddy/Caddyfile', caddyfileForPebble());
  await inHost(host, ['systemctl', 'reload', 'caddy']);
}

export interface PebbleLog {
  /** new orders pebble accepted, for any name */
  orders: number;
  /** the names of every certificate pebble issued, one entry per certificate */
  issued: string[];
}

/**
 * What pebble did so far, from its journal: each new order is one "Added order" line (pebble
 * logs no names there); each issued certificate one "Issued certificate serial <s>" line, whose
 * names its management API gives by serial.
 */
export async function pebbleLog(host: TestHost): Promise<PebbleLog> {
  const journal = await inHost(host, ['journalctl', '-u', PEBBLE_UNIT, '-o', 'cat', '--no-pager']);
  const lines = journal.split('\n');
  const orders = lines.filter((l) => /Added order "[^"]+" to the db/.test(l)).length;
  const serials = lines
    .map((l) => /Issued certificate serial ([0-9a-f]+) for order/.exec(l)?.[1])
    .filter((s): s is string => s !== undefined);
  const issued: string[] = [];
  for (const serial of serials) issued.push(...(await issuedNames(host, serial)));
  return { orders, issued };
}

async function issuedNames(host: TestHost, serial: string): Promise<string[]> {
  const status = await inHost(host, [
    'curl',
    '-sSf',
    '--cacert',
    PEBBLE_TLS_CA,
    `${PEBBLE_MANAGEMENT}/cert-status-by-serial/${serial}`,
  ]);
  const pem = (JSON.parse(status) as { Certificate?: string }).Certificate ?? '';
  const san = new X509Certificate(pem).subjectAltName ?? '';
  return [...san.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1] as string);
}

/** The names Caddy holds a certificate from pebble for, from its storage (one directory each). */
export async function storedNames(host: TestHost): Promise<string[]> {
  const result = await host.exec([
    'find',
    CADDY_PEBBLE_CERTIFICATES,
    '-mindepth',
    '2',
    '-maxdepth',
    '2',
    '-name',
    '*.crt',
  ]);
  if (result.code !== 0) return [];
  return result.stdout
    .split('\n')
    .filter((l) => l.endsWith('.crt'))
    .map((l) => l.slice(l.lastIndexOf('/') + 1, -'.crt'.length))
    .sort();
}

/** The stored certificate file of `name` (its PEM), or undefined. */
export async function storedCertificate(host: TestHost, name: string): Promise<string | undefined> {
  const result = await host.exec(['cat', '--', `${CADDY_PEBBLE_CERTIFICATES}/${name}/${name}.crt`]);
  return result.code === 0 ? result.stdout : undefined;
}
