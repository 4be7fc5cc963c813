/**
 * Previews' certificates on demand, against a real ACME server: pebble runs inside the host and
 * Caddy's `acme_ca` points at it. A preview's certificate is ordered at its first HTTPS visit and
 * never at deploy; a name that is not a live preview's gets none (the ask endpoint says 404 and
 * pebble sees no order); redeploying, or removing and deploying again, orders nothing new;
 * production's certificate comes at deploy; `toss status` counts what Caddy holds; previews answer
 * with X-Robots-Tag: noindex, production only when toss.json says so.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, inHost, makeApp, toss } from './support/app.js';
import {
  aimCaddyAtPebble,
  type Pebble,
  pebbleLog,
  startPebble,
  storedCertificate,
  storedNames,
} from './support/pebble.js';

const APP = 'shop';
const PRODUCTION = 'shop.example.test';
const PREVIEW = 'pr-1.preview.example.test';
const ALLOW_DIR = '/var/lib/toss/tls-allow';

let host: TestHost;
let pebble: Pebble;
let app: AppCheckout;

interface Visit {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** the names of the certificate the server presented */
  names: string;
  issuer: string;
}

/**
 * GET https://<name>/ from this machine with SNI and Host <name>, the certificate verified
 * against pebble's root (as a visitor's browser would verify a public CA's).
 */
function visit(name: string, timeoutMs = 30_000): Promise<Visit> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: host.ip,
        port: 443,
        path: '/',
        servername: name,
        headers: { host: name },
        ca: pebble.root,
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        const cert = (res.socket as TLSSocket).getPeerCertificate();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            names: cert.subjectaltname ?? '',
            issuer: String(cert.issuer?.CN ?? ''),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout visiting https://${name}/`)));
    req.on('error', reject);
    req.end();
  });
}

/** What the ask endpoint answers Caddy for `domain` (the query value sent exactly as given). */
async function ask(domain: string): Promise<string> {
  return inHost(host, [
    'curl',
    '-s',
    '--globoff',
    '--path-as-is',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    `http://127.0.0.1:883/toss-preview-names?domain=${domain}`,
  ]);
}

async function deploy(env: string): Promise<void> {
  const run = await toss(host, ['deploy', env], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
}

const count = (names: string[], name: string) => names.filter((n) => n === name).length;

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  pebble = await startPebble(host);
  // Before the first deploy, as a user would have it: toss keeps every byte of it.
  await aimCaddyAtPebble(host);
  app = await makeApp(host, {
    app: APP,
    tls: 'auto',
    domain: PRODUCTION,
    previewDomain: 'preview.example.test',
  });
  await deploy('production');
}, 180_000);
afterAll(async () => {
  await host?.shutdown();
});

describe('certificates from an ACME CA', () => {
  it('production gets its certificate at deploy, from the CA, not through the preview gate', async () => {
    expect(await storedNames(host)).toEqual([PRODUCTION]);
    const log = await pebbleLog(host);
    expect(log).toEqual({ orders: 1, issued: [PRODUCTION] });
    const res = await visit(PRODUCTION);
    expect(res.status, res.body).toBe(200);
    expect(res.names).toBe(`DNS:${PRODUCTION}`);
    expect(res.issuer).toMatch(/^Pebble Intermediate CA/);
    // No preview yet, so no gate either: the Caddyfile asks nothing.
    expect(await inHost(host, ['cat', '/etc/caddy/Caddyfile'])).not.toContain('on_demand_tls');
  }, 60_000);

  it('a preview’s certificate is ordered at its first HTTPS visit, not at deploy', async () => {
    await deploy('pr-1');
    // Deployed and routed, yet no certificate and no order.
    expect(await storedNames(host)).toEqual([PRODUCTION]);
    expect(await pebbleLog(host)).toEqual({ orders: 1, issued: [PRODUCTION] });
    expect(await ask(PREVIEW)).toBe('200');
    // Production is not an on-demand name: the gate refuses it, and no allow file names it.
    expect(await ask(PRODUCTION)).toBe('404');
    expect((await inHost(host, ['ls', '-A', '--', ALLOW_DIR])).split('\n')).toEqual([PREVIEW, '']);

    const started = performance.now();
    const first = await visit(PREVIEW);
    const ms = performance.now() - started;
    expect(first.status, first.body).toBe(200);
    expect(first.body).toContain('Hello');
    expect(first.names).toBe(`DNS:${PREVIEW}`);
    expect(first.issuer).toMatch(/^Pebble Intermediate CA/);
    console.log(
      `ON-DEMAND | first HTTPS visit of ${PREVIEW}, certificate included: ${ms.toFixed(0)} ms`,
    );

    expect(await storedNames(host)).toEqual([PREVIEW, PRODUCTION].sort());
    const log = await pebbleLog(host);
    expect(log.orders).toBe(2);
    expect(count(log.issued, PREVIEW)).toBe(1);
    // Later visits use it; nothing more is ordered.
    expect((await visit(PREVIEW)).status).toBe(200);
    expect((await pebbleLog(host)).orders).toBe(2);
  }, 90_000);

  it('a name that is not a live preview gets no certificate and no order', async () => {
    const before = await pebbleLog(host);
    const stored = await storedNames(host);
    for (const name of [
      'pr-999.preview.example.test',
      'random.preview.example.test',
      'shop.example.org',
    ]) {
      const refusal = await visit(name, 10_000).then(
        (res) => `answered ${res.status}`,
        (error: Error) => error.message,
      );
      expect(refusal, name).toMatch(/alert internal error/);
      expect(await ask(name), name).toBe('404');
    }
    expect(await pebbleLog(host)).toEqual(before);
    expect(await storedNames(host)).toEqual(stored);

    // The gate decides even for a deployed preview's site: with its name taken off the list by
    // hand, its handshake fails and nothing is ordered.
    await deploy('pr-2');
    const second = 'pr-2.preview.example.test';
    expect(await ask(second)).toBe('200');
    await inHost(host, ['rm', '--', `${ALLOW_DIR}/${second}`]);
    expect(await ask(second)).toBe('404');
    await expect(visit(second, 10_000)).rejects.toThrow(/alert internal error/);
    expect(await pebbleLog(host)).toEqual(before);
    expect(await storedNames(host)).toEqual(stored);

    // The gate itself: only the exact name of a live preview's file.
    const refused = [
      '',
      '.',
      '..',
      '/',
      `${PREVIEW}/`,
      `/${PREVIEW}`,
      `x/../${PREVIEW}`,
      `../tls-allow/${PREVIEW}`,
      `%2e%2e%2ftls-allow%2f${PREVIEW}`,
      `x%2f..%2f${PREVIEW}`,
      `${PREVIEW}%2f`,
      `${PREVIEW}%00`,
      `${PREVIEW}.`,
      `.${PREVIEW}`,
      PREVIEW.toUpperCase(),
      `.new-${PREVIEW}`,
      'preview.example.test',
      'example.test',
    ];
    const answers = await Promise.all(refused.map(async (d) => `${d} → ${await ask(d)}`));
    expect(answers).toEqual(refused.map((d) => `${d} → 404`));
    expect(await ask(PREVIEW)).toBe('200');
  }, 90_000);

  it('redeploying, and removing then deploying again, order no new certificate', async () => {
    const certificate = await storedCertificate(host, PREVIEW);
    expect(certificate).toContain('BEGIN CERTIFICATE');
    const before = await pebbleLog(host);

    await app.commit('message.txt', 'Hello from the second release\n');
    await deploy('pr-1');
    const redeployed = await visit(PREVIEW);
    expect(redeployed.body).toContain('second release');
    expect(await storedCertificate(host, PREVIEW)).toBe(certificate);
    expect(await pebbleLog(host)).toEqual(before);

    const removed = await toss(host, ['remove', 'pr-1', '--force'], { cwd: app.dir });
    expect(removed.code, removed.output).toBe(0);
    // Gone from the gate with its site.
    expect(await ask(PREVIEW)).toBe('404');

    await deploy('pr-1');
    expect(await ask(PREVIEW)).toBe('200');
    const again = await visit(PREVIEW);
    expect(again.status, again.body).toBe(200);
    expect(again.body).toContain('second release');
    expect(again.names).toBe(`DNS:${PREVIEW}`);
    expect(await storedCertificate(host, PREVIEW)).toBe(certificate);
    expect(await pebbleLog(host)).toEqual(before);
  }, 120_000);

  it('toss status counts the week’s certificates for the registered domain', async () => {
    const stored = (await storedNames(host)).filter((n) => n.endsWith('.example.test'));
    const issued = (await pebbleLog(host)).issued.filter((n) => n.endsWith('.example.test'));
    expect(stored.length).toBe(issued.length);
    const status = await toss(host, ['status'], { cwd: app.dir });
    expect(status.code, status.output).toBe(0);
    expect(status.stdout).toContain('certificates this week');
    expect(status.stdout).toMatch(new RegExp(`^ {2}example\\.test: ${stored.length}$`, 'm'));
    console.log(`STATUS | example.test: ${stored.length} certificates (${stored.join(', ')})`);
  }, 60_000);

  it('previews say noindex; production only with noindex: true', async () => {
    expect((await visit(PREVIEW)).headers['x-robots-tag']).toBe('noindex');
    expect((await visit(PRODUCTION)).headers['x-robots-tag']).toBeUndefined();

    const before = await pebbleLog(host);
    app.configure({ noindex: true });
    await app.commit('toss.json', `${JSON.stringify(app.config(), null, 2)}\n`);
    await deploy('production');
    const production = await visit(PRODUCTION);
    expect(production.status).toBe(200);
    expect(production.headers['x-robots-tag']).toBe('noindex');
    expect((await visit(PREVIEW)).headers['x-robots-tag']).toBe('noindex');
    // Production's redeploy kept its certificate.
    expect(await pebbleLog(host)).toEqual(before);
  }, 90_000);
});
