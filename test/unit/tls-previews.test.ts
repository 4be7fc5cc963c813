import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { confirmTlsOf, siteFor } from '../../src/pipeline/server-files.js';
import { buildSiteFile, ON_DEMAND_MARKER } from '../../src/server/caddy-site.js';
import { flatLabel, hostNameFor } from '../../src/server/hostnames.js';
import { envPaths } from '../../src/server/paths.js';
import { ASK_URL, askSite, ensureOnDemandAsk } from '../../src/server/tls-ask.js';

const ASK_OPTION = `\t# toss: previews get certificates on demand, only for the names this endpoint allows.\n\ton_demand_tls {\n\t\task ${ASK_URL}\n\t}\n`;
const ASK_SITE = `\n${askSite().join('\n')}\n`;

describe('ensureOnDemandAsk', () => {
  it.each([
    ['an empty file', '', `{\n${ASK_OPTION}}\n\n${ASK_SITE}`],
    [
      'a global block',
      '{\n\tadmin unix//run/caddy/admin.sock\n}\n\n:80 {\n\tfile_server\n}\n',
      `{\n${ASK_OPTION}\tadmin unix//run/caddy/admin.sock\n}\n\n:80 {\n\tfile_server\n}\n${ASK_SITE}`,
    ],
    [
      'no global block, no final newline',
      ':80 {\n\tfile_server\n}',
      `{\n${ASK_OPTION}}\n\n:80 {\n\tfile_server\n}\n${ASK_SITE}`,
    ],
    [
      "the user's on_demand_tls without ask (it gets toss's)",
      '{\n\ton_demand_tls {\n\t\tinterval 2m\n\t}\n}\n',
      `{\n\ton_demand_tls {\n\t\task ${ASK_URL}\n\t\tinterval 2m\n\t}\n}\n${ASK_SITE}`,
    ],
  ])('%s: adds the option and the endpoint once, leaving every other byte', (_, input, text) => {
    expect(ensureOnDemandAsk(input)).toEqual({ text, changed: true, userAsk: undefined });
    expect(ensureOnDemandAsk(text)).toEqual({ text, changed: false, userAsk: undefined });
  });

  it("keeps the user's own ask endpoint and says so", () => {
    const input = '{\n\ton_demand_tls {\n\t\task http://localhost:9000/check\n\t}\n}\n';
    const edit = ensureOnDemandAsk(input);
    expect(edit.text).toBe(`${input}${ASK_SITE}`);
    expect(edit.userAsk).toBe('http://localhost:9000/check');
  });

  it('keeps CRLF line ends', () => {
    const edit = ensureOnDemandAsk('{\r\n\temail a@b.c\r\n}\r\n');
    expect(edit.text.replaceAll('\r\n', '')).not.toContain('\n');
    expect(edit.text.startsWith('{\r\n\t# toss:')).toBe(true);
  });

  it('refuses an on_demand_tls it cannot read', () => {
    expect(() => ensureOnDemandAsk('{\n\ton_demand_tls\n\t{\n\t}\n}\n')).toThrow(/on_demand_tls/);
  });

  it('the endpoint checks the name before the file, on loopback only', () => {
    const site = askSite().join('\n');
    expect(site).toContain('\tbind 127.0.0.1\n');
    const pattern = /vars_regexp \{query\.domain\} (\S+)/.exec(site)?.[1] ?? '';
    const re = new RegExp(pattern);
    for (const ok of ['pr-1.preview.example.test', 'a.b']) expect(re.test(ok)).toBe(true);
    for (const bad of [
      '',
      '.',
      '..',
      '../x',
      'a/b',
      'x',
      'PR-1.example.test',
      'a..b',
      '-a.b',
      'a.b\n',
    ]) {
      expect(re.test(bad)).toBe(false);
    }
  });
});

const HASH = '$2a$14$IjHTgaFGL865/vAW5IC6H.APHrPDltaJAIQ53tFi33ws0AOJuSemG';

describe('preview sites', () => {
  it('an on-demand preview: marker, tls on_demand, noindex before basic auth', () => {
    expect(
      buildSiteFile({
        hostName: 'pr-1.preview.example.test',
        port: 3001,
        tls: 'auto',
        certificate: 'on-demand',
        noindex: true,
        basicAuth: { user: 'ci', passwordHash: HASH },
        app: 'shop',
        environment: 'pr-1',
      }),
    ).toBe(
      [
        '# Managed by toss (app shop, environment pr-1); rewritten on every deploy.',
        `${ON_DEMAND_MARKER} pr-1.preview.example.test`,
        'pr-1.preview.example.test {',
        '\ttls {',
        '\t\ton_demand',
        '\t}',
        '\theader X-Robots-Tag noindex',
        '\tbasicauth {',
        `\t\tci ${HASH}`,
        '\t}',
        '\treverse_proxy 127.0.0.1:3001 {',
        '\t\ttransport http {',
        '\t\t\tkeepalive off',
        '\t\t}',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('tls off: no on-demand certificate and no marker', () => {
    const site = buildSiteFile({
      hostName: 'pr-1.x.test',
      port: 3001,
      tls: 'off',
      certificate: 'on-demand',
    });
    expect(site).not.toContain('on_demand');
    expect(site).not.toContain(ON_DEMAND_MARKER);
  });

  it('tls internal: every site on demand and allowed (its certificate survives a reload)', () => {
    for (const environment of ['production', 'pr-1']) {
      const host = `${environment}.shop.203-0-113-10.sslip.io`;
      const site = buildSiteFile({ hostName: host, port: 3001, tls: 'internal' });
      expect(site).toContain(`\n${ON_DEMAND_MARKER} ${host}\n${host} {\n`);
      expect(site).toContain('\ttls internal {\n\t\ton_demand\n\t}\n');
    }
    // A name the ask endpoint cannot allow (sslip.io's IPv6 labels) keeps a managed certificate.
    const v6 = buildSiteFile({ hostName: 'shop.--1.sslip.io', port: 3001, tls: 'internal' });
    expect(v6).toContain('\ttls internal\n');
    expect(v6).not.toContain(ON_DEMAND_MARKER);
  });

  it('wildcard: previews on demand but never allowed; production manages *.<previewDomain>', () => {
    const preview = buildSiteFile({
      hostName: 'pr-1.p.example.test',
      port: 3001,
      tls: 'auto',
      certificate: 'wildcard',
    });
    expect(preview).toContain('\ttls {\n\t\ton_demand\n\t}\n');
    expect(preview).not.toContain(ON_DEMAND_MARKER);
    const production = buildSiteFile({
      hostName: 'example.test',
      port: 3000,
      tls: 'auto',
      wildcard: { domain: 'p.example.test', dns: 'cloudflare {env.CF_API_TOKEN}' },
    });
    expect(production).toContain(
      '\n*.p.example.test {\n\ttls {\n\t\tdns cloudflare {env.CF_API_TOKEN}\n\t}\n\tabort\n}\n',
    );
    expect(() =>
      buildSiteFile({
        hostName: 'example.test',
        port: 3000,
        tls: 'auto',
        wildcard: { domain: 'p.example.test', dns: 'x }\nimport /etc/passwd' },
      }),
    ).toThrow(/refusing/);
  });

  it('siteFor: previews always noindex, production only with noindex: true', () => {
    const config = parseConfig({
      app: 'shop',
      server: 'h',
      domain: 'example.test',
      startCommand: 'x',
    });
    const preview = siteFor(config, envPaths('shop', 'pr-1'), 'pr-1.preview.example.test', 3001);
    expect(preview).toContain('header X-Robots-Tag noindex');
    expect(preview).toContain('on_demand');
    const production = siteFor(config, envPaths('shop', 'production'), 'example.test', 3000);
    expect(production).not.toContain('X-Robots-Tag');
    expect(production).not.toContain('on_demand');
    const hidden = siteFor(
      { ...config, noindex: true },
      envPaths('shop', 'production'),
      'example.test',
      3000,
    );
    expect(hidden).toContain('header X-Robots-Tag noindex');
    expect(confirmTlsOf(config, envPaths('shop', 'pr-1'))).toBe('off');
    expect(confirmTlsOf(config, envPaths('shop', 'production'))).toBe('auto');
  });

  it('previews.tls "wildcard" needs previews.dns, in a closed alphabet', () => {
    const base = { app: 'shop', server: 'h', domain: 'example.test', startCommand: 'x' };
    expect(() => parseConfig({ ...base, previews: { tls: 'wildcard' } })).toThrow(/dns/);
    expect(() => parseConfig({ ...base, previews: { tls: 'wildcard', dns: 'cf }' } })).toThrow(
      /dns/,
    );
    const config = parseConfig({
      ...base,
      previews: { tls: 'wildcard', dns: 'cloudflare {env.CF}' },
    });
    expect(siteFor(config, envPaths('shop', 'production'), 'example.test', 3000)).toContain(
      '*.preview.example.test {',
    );
  });
});

describe('flat preview names', () => {
  it('one label under previewDomain or the domain', () => {
    const base = { app: 'shop', environment: 'pr-42', hostNames: 'flat' as const };
    expect(hostNameFor({ ...base, domain: 'example.com' })).toBe('pr-42-shop.example.com');
    expect(hostNameFor({ ...base, domain: 'shop.example.com', previewDomain: 'example.com' })).toBe(
      'pr-42-shop.example.com',
    );
    expect(hostNameFor({ ...base, environment: 'production', domain: 'example.com' })).toBe(
      'example.com',
    );
    expect(hostNameFor({ ...base, domain: 'example.com', hostNames: 'nested' })).toBe(
      'pr-42.preview.example.com',
    );
  });

  it('a label over 63 characters is cut and ends in a hash, still distinct', () => {
    const env = `feature-${'x'.repeat(40)}`;
    const a = flatLabel(env, 'a'.repeat(40));
    const b = flatLabel(env, `${'a'.repeat(39)}b`);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(a).toMatch(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/);
    expect(a).toMatch(/-[0-9a-f]{6}$/);
    expect(a).not.toBe(b);
    expect(flatLabel('pr-1', 'shop')).toBe('pr-1-shop');
  });
});
