/**
 * The release fingerprint's parts: the upload's file list as rsync makes it (its filters, modes,
 * symlinks; not mtimes), and how two fingerprints are said to differ.
 */
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configAsWritten } from '../../src/cli/config-as-written.js';
import { hashBeforeChecks } from '../../src/cli/early-hash.js';
import { canonicalJson, describeChange, fingerprintOf } from '../../src/pipeline/fingerprint.js';
import { hashUploadTree, startTreeHash, treeHashOf } from '../../src/pipeline/tree-hash.js';
import { testConfig } from '../support/fake-server.js';

function tree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'toss-fp-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'app.js'), 'console.log(1)\n');
  writeFileSync(join(dir, 'server.js'), 'import "./src/app.js"\n');
  writeFileSync(join(dir, '.gitignore'), '*.log\n');
  return dir;
}

const plain = { excludes: [], built: false };

describe('hashUploadTree', () => {
  it('is the same for the same tree, whatever the mtimes', async () => {
    const dir = tree();
    const a = await hashUploadTree(dir, plain);
    utimesSync(join(dir, 'server.js'), new Date(), new Date(Date.now() + 60_000));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await hashUploadTree(dir, plain)).toBe(a);
  });

  it('changes with a file’s content, a new or removed file, a mode bit or a symlink target', async () => {
    const dir = tree();
    const seen = new Set([await hashUploadTree(dir, plain)]);
    const changes = [
      () => writeFileSync(join(dir, 'src', 'app.js'), 'console.log(2)\n'),
      () => writeFileSync(join(dir, 'src', 'new.js'), ''),
      () => chmodSync(join(dir, 'server.js'), 0o755),
      () => symlinkSync('src/app.js', join(dir, 'link')),
    ];
    for (const change of changes) {
      change();
      seen.add(await hashUploadTree(dir, plain));
    }
    expect(seen.size).toBe(changes.length + 1);
  });

  it('leaves out what the upload leaves out: .git, node_modules, ignored files, toss.json excludes', async () => {
    const dir = tree();
    const a = await hashUploadTree(dir, { excludes: ['tmp'], built: false });
    mkdirSync(join(dir, '.git'));
    writeFileSync(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    mkdirSync(join(dir, 'node_modules'));
    writeFileSync(join(dir, 'debug.log'), 'noise\n');
    mkdirSync(join(dir, 'tmp'));
    writeFileSync(join(dir, 'tmp', 'x'), 'x\n');
    expect(await hashUploadTree(dir, { excludes: ['tmp'], built: false })).toBe(a);
    // A build's output ships node_modules and git-ignored files.
    const built = await hashUploadTree(dir, { excludes: ['tmp'], built: true });
    writeFileSync(join(dir, 'debug.log'), 'more noise\n');
    expect(await hashUploadTree(dir, { excludes: ['tmp'], built: true })).not.toBe(built);
  });

  it('is undefined when rsync cannot list the tree', async () => {
    expect(await hashUploadTree(join(tmpdir(), 'toss-no-such-dir-x'), plain)).toBeUndefined();
  });
});

describe('the hash begun before the checks', () => {
  // As `toss deploy` begins it: toss.json read once as written, then hashed from that.
  const hashEarly = (path: string) => hashBeforeChecks(path, configAsWritten(path));
  const configIn = (dir: string, config: Record<string, unknown>) => {
    writeFileSync(join(dir, 'toss.json'), JSON.stringify(config));
    return join(dir, 'toss.json');
  };

  it('is taken for the same directory and filters, and made anew for others', async () => {
    const dir = tree();
    const early = startTreeHash(dir, { excludes: ['tmp'], built: false });
    expect(treeHashOf(early, dir, { excludes: ['tmp'], built: false })).toBe(early.hash);
    const want = await hashUploadTree(dir, { excludes: ['tmp'], built: false });
    expect(await early.hash).toBe(want);
    for (const [sourceDir, filters] of [
      [join(dir, 'src'), { excludes: ['tmp'], built: false }],
      [dir, { excludes: [], built: false }],
      [dir, { excludes: ['tmp', 'x'], built: false }],
      [dir, { excludes: ['tmp'], built: true }],
    ] as const) {
      const other = treeHashOf(early, sourceDir, filters);
      expect(other).not.toBe(early.hash);
      expect(await other).toBe(await hashUploadTree(sourceDir, filters));
    }
    expect(await treeHashOf(undefined, dir, { excludes: ['tmp'], built: false })).toBe(want);
  });

  it("reads toss.json's root and exclude as written, as the deploy will hash them", async () => {
    const dir = tree();
    const early = await hashEarly(configIn(dir, { app: 'a', root: 'src', exclude: ['x'] }));
    expect(early).toMatchObject({ excludes: ['x'], built: false });
    expect(early?.sourceDir).toBe(realpathSync(join(dir, 'src')));
    expect(await early?.hash).toBe(
      await hashUploadTree(realpathSync(join(dir, 'src')), { excludes: ['x'], built: false }),
    );
    const plainly = await hashEarly(configIn(dir, { app: 'a' }));
    expect(plainly).toMatchObject({ sourceDir: realpathSync(dir), excludes: [], built: false });
  });

  it('hashes nothing for a build, a root out of the checkout, or a file it cannot read plainly', async () => {
    const dir = tree();
    const outside = mkdtempSync(join(tmpdir(), 'toss-fp-outside-'));
    symlinkSync(outside, join(dir, 'away'));
    for (const config of [
      { app: 'a', build: ['npm run build'] },
      { app: 'a', root: 'away' },
      { app: 'a', root: 'missing' },
      { app: 'a', root: 3 },
      { app: 'a', exclude: 'tmp' },
      { app: 'a', exclude: [1] },
    ]) {
      expect(await hashEarly(configIn(dir, config)), JSON.stringify(config)).toBeUndefined();
    }
    writeFileSync(join(dir, 'toss.json'), '{ not json');
    expect(await hashEarly(join(dir, 'toss.json'))).toBeUndefined();
    expect(await hashEarly(join(dir, 'nothing.json'))).toBeUndefined();
  });
});

describe('fingerprintOf and describeChange', () => {
  const base = {
    files: 'a'.repeat(64),
    config: testConfig(),
    hostName: 'shop.example.com',
    secrets: new Map([['DB', 'x']]),
    overrides: new Map<string, string>(),
  };

  it('names each part that changed', () => {
    const fp = fingerprintOf(base);
    expect(fp).toMatch(/^v1 files:a{32} config:[0-9a-f]{32} variables:[0-9a-f]{32}$/);
    expect(describeChange(fp, fingerprintOf({ ...base }))).toBeUndefined();
    expect(describeChange(fp, fingerprintOf({ ...base, files: 'b'.repeat(64) }))).toBe(
      'files changed',
    );
    expect(describeChange(fp, fingerprintOf({ ...base, hostName: 'other.example.com' }))).toBe(
      'toss.json changed',
    );
    expect(
      describeChange(
        fp,
        fingerprintOf({ ...base, files: 'b'.repeat(64), overrides: new Map([['A', '1']]) }),
      ),
    ).toBe('files and variables changed');
    expect(describeChange(undefined, fp)).toBe('no fingerprint recorded for the live release');
    expect(describeChange('v0 whatever', fp)).toBe('recorded by another version of toss');
  });

  it('does not depend on the order of keys or variables', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: 3 } })).toBe(
      '{"a":{"c":3,"d":[2,{"y":2,"z":1}]},"b":1}',
    );
    const secrets = new Map([
      ['B', '2'],
      ['A', '1'],
    ]);
    expect(fingerprintOf({ ...base, secrets })).toBe(
      fingerprintOf({ ...base, secrets: new Map([...secrets].reverse()) }),
    );
  });
});
