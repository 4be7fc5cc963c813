/**
 * Host keys are always verified: a scan of src/ and the committed dist/ bundles. No
 * code path turns host-key checking off (StrictHostKeyChecking=no/off, UserKnownHostsFile=/dev/null,
 * a verifier that accepts everything); accepting a NEW key exists only behind `toss init`'s
 * explicit trust option; every ssh argv toss builds says StrictHostKeyChecking=yes.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { systemSshArgv } from '../../src/server/shell.js';

const ROOT = resolve(import.meta.dirname, '../..');

function walk(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path, ext));
    else if (ext.test(name)) out.push(path);
  }
  return out;
}

const sources = walk(join(ROOT, 'src'), /\.ts$/).map((path) => ({
  path: relative(ROOT, path),
  text: readFileSync(path, 'utf8'),
}));
const bundles = walk(join(ROOT, 'dist'), /\.(c|m)?js$/).map((path) => ({
  path: relative(ROOT, path),
  text: readFileSync(path, 'utf8'),
}));

/** Lines matching `pattern`, as `file:line: text`. */
function hits(files: Array<{ path: string; text: string }>, pattern: RegExp): string[] {
  const out: string[] = [];
  for (const { path, text } of files) {
    text.split('\n').forEach((line, i) => {
      if (pattern.test(line)) out.push(`${path}:${i + 1}: ${line.trim().slice(0, 160)}`);
    });
  }
  return out;
}

describe('host keys are always verified (source scan)', () => {
  it('scans a real tree', () => {
    expect(sources.length).toBeGreaterThan(50);
    expect(bundles.map((b) => b.path)).toEqual(
      expect.arrayContaining(['dist/index.js', 'dist/cli/index.js']),
    );
  });

  // (GlobalKnownHostsFile=/dev/null is fine: with a pinned UserKnownHostsFile it narrows trust.)
  it('nothing in src/ or dist/ turns host-key checking off', () => {
    const off =
      /StrictHostKeyChecking[= ]+["']?(no|off|false)\b|UserKnownHostsFile[= ]+["']?\/dev\/null/i;
    expect(hits(sources, off)).toEqual([]);
    // ssh2's own option is hostVerifier; a verifier that returns true for everything is banned.
    expect(hits(sources, /hostVerifier\s*[:=]\s*\(?[^)]*\)?\s*=>\s*true/)).toEqual([]);
    expect(hits(bundles, off)).toEqual([]);
  });

  it('accept-new appears only as the explicit trust option of `toss init`', () => {
    const acceptNew = hits(sources, /accept-new|acceptNew/);
    const allowed = new Set([
      'src/cli/commands/init.ts',
      'src/pipeline/init.ts',
      // the policy that implements (and limits) the option, and the plumbing that carries it
      'src/remote/host-key-policy.ts',
      'src/remote/connection.ts',
      'src/remote/login.ts',
      'src/pipeline/session.ts',
    ]);
    const outside = acceptNew.filter((h) => !allowed.has(h.split(':')[0]!));
    expect(outside).toEqual([]);
    // Session.open's third argument (trust) is passed only by init.
    const trustCallers = hits(sources, /Session\.open\([^)]*,[^)]*,/).map((h) => h.split(':')[0]);
    expect(new Set(trustCallers)).toEqual(new Set(['src/pipeline/init.ts']));
    // connectLogin's trust option is passed on by Session.open alone.
    const loginTrust = hits(sources, /connectLogin\([^)]*trust/).map((h) => h.split(':')[0]);
    expect(new Set(loginTrust)).toEqual(new Set(['src/pipeline/session.ts']));
    // `trust:` given to a connection anywhere else is a bypass.
    const trustProps = hits(sources, /\btrust\s*:/).map((h) => h.split(':')[0]);
    for (const file of trustProps) expect(allowed.has(file!), file).toBe(true);
  });

  it('every ssh argv toss builds says StrictHostKeyChecking=yes (the only value in src/)', () => {
    const values = hits(sources, /StrictHostKeyChecking=\w+/).filter(
      (h) =>
        !/StrictHostKeyChecking=yes/.test(h) &&
        !/\/\*\*|^\s*\*|\/\/|like ssh|as ssh|`/.test(h.split(': ').slice(1).join(': ')),
    );
    expect(values).toEqual([]);
  });

  it("rsync's ssh: -F /dev/null, BatchMode, IdentitiesOnly, StrictHostKeyChecking=yes, a pinned known_hosts", () => {
    const argv = systemSshArgv({
      port: 22,
      identityFile: '/tmp/id',
      knownHostsFile: '/tmp/kh',
    }).join(' ');
    expect(argv).toContain('UserKnownHostsFile=/tmp/kh');
    expect(argv).toContain('-F /dev/null');
    expect(argv).toContain('StrictHostKeyChecking=yes');
    expect(argv).toContain('BatchMode=yes');
    expect(argv).toContain('IdentitiesOnly=yes');
    expect(argv).not.toMatch(/StrictHostKeyChecking=(no|accept-new)/);
  });
});
