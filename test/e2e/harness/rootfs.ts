/** Builds the test-host rootfs once (cached .tar.zst), extracts it once into a shared lower dir. */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withDirLock } from './dir-lock.js';
import { cacheDir, lowerRoot } from './paths.js';
import { checkPrerequisites } from './prerequisites.js';
import { run, runOk } from './proc.js';
import {
  CUSTOMIZE_SCRIPT,
  type Image,
  mirrorArgs,
  recipeArgs,
  recipeHash,
  SUITE,
} from './recipe.js';

export interface TestKey {
  keyPath: string;
  key: string;
  publicKey: string;
}

const log = (msg: string) => console.log(`toss-testhost: ${msg}`);

/** The ed25519 key pair every host of this cache accepts for root and deploy. */
export async function ensureTestKey(): Promise<TestKey> {
  const dir = cacheDir();
  const keyPath = join(dir, 'id_ed25519');
  if (!existsSync(keyPath)) {
    mkdirSync(dir, { recursive: true });
    await withDirLock(join(dir, '.lock-key'), async () => {
      if (existsSync(keyPath)) return;
      const tmp = join(dir, `.tmp-key-${process.pid}`);
      rmSync(tmp, { force: true });
      rmSync(`${tmp}.pub`, { force: true });
      await runOk([
        'ssh-keygen',
        '-q',
        '-t',
        'ed25519',
        '-N',
        '',
        '-C',
        'toss-testhost',
        '-f',
        tmp,
      ]);
      // Public half first: the private key's presence means both are there.
      renameSync(`${tmp}.pub`, `${keyPath}.pub`);
      renameSync(tmp, keyPath);
    });
  }
  return {
    keyPath,
    key: readFileSync(keyPath, 'utf8'),
    publicKey: readFileSync(`${keyPath}.pub`, 'utf8').trim(),
  };
}

async function build(tarball: string, image: Image): Promise<void> {
  const hookDir = mkdtempSync(join(tmpdir(), 'toss-testhost-'));
  // mmdebstrap execs a hook directly only when its path has no shell metacharacters.
  const hook = join(hookDir, 'customize');
  if (!/^[\w./-]+$/.test(hook)) throw new Error(`unsafe temp path for the hook: ${hook}`);
  copyFileSync(CUSTOMIZE_SCRIPT, hook);
  await runOk(['chmod', '0755', hook]);
  // The extension tells mmdebstrap to write a zstd tarball; renamed into place only when complete.
  const partial = join(cacheDir(), `.partial-${process.pid}.tar.zst`);
  const { mirror, extra } = mirrorArgs();
  // Without Caddy there is no /etc/caddy: the shared script's Caddyfile goes in and out again.
  const bare = image === 'bare';
  const argv = [
    'mmdebstrap',
    ...recipeArgs(image),
    ...extra,
    ...(bare ? ['--customize-hook=mkdir -p "$1/etc/caddy"'] : []),
    `--customize-hook=${hook}`,
    ...(bare ? ['--customize-hook=rm -rf "$1/etc/caddy"'] : []),
    SUITE,
    partial,
    mirror,
  ];
  const logPath = `${tarball}.build.log`;
  log(`building the test-host rootfs once (½–3 min, mostly downloads): ${argv.join(' ')}`);
  const started = Date.now();
  try {
    const r = await run(argv);
    writeFileSync(logPath, r.stdout + r.stderr);
    if (r.code !== 0) {
      const tail = r.stderr.trim().split('\n').slice(-25).join('\n');
      throw new Error(`mmdebstrap failed (exit ${r.code}; full log ${logPath}):\n${tail}`);
    }
    renameSync(partial, tarball);
    log(`rootfs built in ${((Date.now() - started) / 1000).toFixed(1)} s: ${tarball}`);
  } finally {
    rmSync(partial, { force: true });
    rmSync(hookDir, { recursive: true, force: true });
  }
}

async function extract(tarball: string, lower: string): Promise<void> {
  const tmp = `${lower}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { mode: 0o755 });
  const started = Date.now();
  try {
    await runOk([
      'tar',
      '--use-compress-program=zstd',
      '--numeric-owner',
      '--xattrs',
      '--xattrs-include=*',
      '-xpf',
      tarball,
      '-C',
      tmp,
    ]);
    renameSync(tmp, lower);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  log(`rootfs extracted in ${((Date.now() - started) / 1000).toFixed(1)} s: ${lower}`);
}

/** Path of the shared read-only lower dir (built and extracted on first use, by one process). */
export async function ensureRootfs(image: Image = 'default'): Promise<string> {
  checkPrerequisites();
  const hash = recipeHash(image);
  const tarball = join(cacheDir(), `rootfs-${hash}.tar.zst`);
  const lower = join(lowerRoot(), `rootfs-${hash}`);
  await ensureTestKey();
  if (existsSync(lower)) return lower;
  mkdirSync(cacheDir(), { recursive: true });
  mkdirSync(lowerRoot(), { recursive: true });
  const onWait = () => log('waiting for another process building/extracting the rootfs');
  await withDirLock(
    join(cacheDir(), `.lock-${hash}`),
    async () => {
      if (!existsSync(tarball)) await build(tarball, image);
    },
    { onWait },
  );
  await withDirLock(
    join(lowerRoot(), `.lock-${hash}`),
    async () => {
      if (!existsSync(lower)) await extract(tarball, lower);
    },
    { onWait },
  );
  return lower;
}
