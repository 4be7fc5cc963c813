import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderStatus } from '../../src/cli/render-status.js';
import type { AppStatus } from '../../src/pipeline/inspect.js';
import {
  certificateWarning,
  countCertificates,
  registeredDomain,
} from '../../src/server/certificates.js';

/** A self-signed certificate for `name`, valid from now. */
function certificate(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'toss-cert-'));
  const out = join(dir, 'c.crt');
  const r = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    join(dir, 'k.key'),
    '-out',
    out,
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=DNS:${name}`,
    '-days',
    '90',
  ]);
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  return readFileSync(out, 'utf8');
}

const DAY = 86400_000;

describe('countCertificates', () => {
  const listing = [
    `=== /c/acme/pr-1.preview.example.test/pr-1.preview.example.test.crt\n${certificate('pr-1.preview.example.test')}`,
    `=== /c/acme/pr-2.preview.example.test/x.crt\n${certificate('pr-2.preview.example.test')}`,
    `=== /c/acme/shop.example.co.uk/x.crt\n${certificate('shop.example.co.uk')}`,
    '=== /c/acme/broken/x.crt\nnot a certificate\n',
  ].join('');

  it('counts the last 7 days per registered domain, from notBefore', () => {
    expect(countCertificates(listing, new Date(Date.now() + 6.9 * DAY))).toEqual([
      {
        domain: 'example.test',
        thisWeek: 2,
        names: ['pr-1.preview.example.test', 'pr-2.preview.example.test'],
      },
      { domain: 'example.co.uk', thisWeek: 1, names: ['shop.example.co.uk'] },
    ]);
  });

  it('leaves out certificates older than a week', () => {
    expect(countCertificates(listing, new Date(Date.now() + 7.1 * DAY))).toEqual([]);
  });
});

describe('registeredDomain', () => {
  it.each([
    ['pr-1.preview.example.com', 'example.com'],
    ['example.com', 'example.com'],
    ['pr-1.shop.203-0-113-10.sslip.io', 'sslip.io'],
    ['a.b.example.co.uk', 'example.co.uk'],
    ['Shop.Example.COM.', 'example.com'],
  ])('%s → %s', (name, domain) => expect(registeredDomain(name)).toBe(domain));
});

describe('certificateWarning', () => {
  it('warns from 40 this week', () => {
    expect(certificateWarning({ domain: 'x.test', thisWeek: 39, names: [] })).toBeUndefined();
    expect(certificateWarning({ domain: 'x.test', thisWeek: 40, names: [] })).toMatch(
      /40 certificates for x.test.*at most 50/,
    );
  });
});

describe('toss status', () => {
  it('prints this week per domain, and the warning near the limit', () => {
    const base = statusFixture();
    const text = renderStatus({
      ...base,
      certificates: [
        { domain: 'example.test', thisWeek: 41, names: [], warning: 'near the limit' },
        { domain: 'sslip.io', thisWeek: 2, names: [], warning: null },
      ],
    });
    expect(text).toContain('certificates this week');
    expect(text).toContain('\n  example.test: 41\n  ! near the limit\n  sslip.io: 2\n');
    expect(renderStatus({ ...base, certificates: null })).toContain(
      "certificates: Caddy's storage could not be read",
    );
  });
});

function statusFixture(): AppStatus {
  return {
    version: 1,
    app: 'shop',
    server: 'root@203.0.113.10',
    origin: null,
    config: {
      domain: 'example.test',
      previewDomain: null,
      tls: 'auto',
      startCommand: 'node server.js',
      static: null,
      deployScript: [],
      keepReleases: 3,
      maxPreviews: 20,
      persistentDirs: [],
    },
    previewPolicy: null,
    environments: [],
    lock: null,
    dependencies: [],
    databases: null,
    secrets: { production: null, preview: null },
    warnings: [],
  };
}
