/**
 * A release is the app's working directory, writable by default, on a real host: the app creates
 * files and directories in it, replaces a shipped file, and none of it reaches another release
 * (shipped files are hard-linked between releases and stay root's, so an in-place write is
 * refused). A file the app replaced with a link to /etc/shadow, and a directory it replaced with a
 * link to /etc, are never followed by the next deploy. A preview's first release links its
 * unchanged files from production's live release: only root's, and through no link planted there.
 * `readOnly: true` keeps the release read-only.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRsyncArgv } from '../../src/server/rsync.js';
import { bootHosts } from './harness/index.js';
import type { TestHost } from './harness/types.js';
import { type AppCheckout, fetchSite, inHost, makeApp, sslipName, toss } from './support/app.js';

const APP = 'scribe';
const SERVER = `import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

const routes = {
  '/up': () => 'ok\\n',
  '/': () => readFileSync('message.txt', 'utf8'),
  '/lib': () => readFileSync('lib/shipped.txt', 'utf8'),
  '/write': () => {
    mkdirSync('tmp/cache', { recursive: true });
    writeFileSync('tmp/cache/note', process.env.TOSS_RELEASE_DIR + '\\n');
    return 'wrote\\n';
  },
  '/touch': () => {
    writeFileSync('touched', 'yes\\n');
    // The mode an uploaded file gets (the app's umask would leave 640): all but its owner alike.
    chmodSync('touched', 0o644);
    return 'touched\\n';
  },
  '/note': () => (existsSync('tmp/cache/note') ? readFileSync('tmp/cache/note', 'utf8') : 'none\\n'),
  '/replace': () => {
    rmSync('message.txt');
    writeFileSync('message.txt', 'replaced by the app\\n');
    return 'replaced\\n';
  },
  '/overwrite': () => {
    writeFileSync('lib/shipped.txt', 'overwritten in place\\n');
    return 'overwritten\\n';
  },
  // Writes a file into another directory, e.g. another environment's release.
  '/attack': (url) => {
    writeFileSync(url.searchParams.get('dir') + '/planted-by-attack', 'x');
    return 'wrote there\\n';
  },
  '/plant': () => {
    rmSync('message.txt');
    symlinkSync('/etc/shadow', 'message.txt');
    rmSync('lib', { recursive: true });
    symlinkSync('/etc', 'lib');
    return 'planted\\n';
  },
};

createServer((request, response) => {
  const url = new URL(request.url, 'http://app');
  const route = routes[url.pathname];
  try {
    response.end(route ? route(url) : 'no such route\\n');
  } catch (error) {
    response.statusCode = 500;
    response.end(String(error.code ?? error.message) + '\\n');
  }
}).listen(Number(process.env.PORT), process.env.HOST);
`;

let host: TestHost;
let app: AppCheckout;
const name = () => sslipName(host, APP, 'production');
const get = async (path: string) => (await fetchSite(host, name(), path)).body;
const getOk = async (path: string) => {
  const res = await fetchSite(host, name(), path);
  expect(res.status, `${path}: ${res.body}`).toBe(200);
  return res.body;
};

async function deploy(args: string[] = []): Promise<string> {
  const run = await toss(host, ['deploy', 'production', ...args], { cwd: app.dir });
  expect(run.code, run.output).toBe(0);
  return JSON.parse(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`])).environments
    .production.release;
}

const releaseDir = (id: string) => `/srv/${APP}/production/releases/${id}`;
const statOf = async (path: string) =>
  (await inHost(host, ['stat', '-c', '%U:%G %a %h %i %F', '--', path])).trim();

beforeAll(async () => {
  [host] = (await bootHosts(1)) as [TestHost];
  app = await makeApp(host, {
    app: APP,
    startCommand: 'node app.js',
    deployScript: undefined,
    persistentDirs: [],
  });
  mkdirSync(join(app.dir, 'lib'));
  await app.commit('lib/shipped.txt', 'shipped\n');
  await app.commit('message.txt', 'version 1\n');
  await app.commit('app.js', SERVER);
});
afterAll(async () => {
  await host?.shutdown();
});

describe('a writable release', () => {
  let first: string;
  let second: string;

  it('lets the app create files and directories in its release', async () => {
    first = await deploy();
    expect(await getOk('/write')).toBe('wrote\n');
    expect(await getOk('/note')).toBe(`${releaseDir(first)}\n`);
    // What the app wrote is its own; what was shipped stays root's.
    expect(await statOf(`${releaseDir(first)}/tmp/cache/note`)).toMatch(/^toss-scribe:/);
    expect(await statOf(`${releaseDir(first)}/lib/shipped.txt`)).toMatch(/^root:root 644 /);
  });

  it('never lets a write reach another release', async () => {
    await app.commit('message.txt', 'version 2\n');
    const shippedBefore = await statOf(`${releaseDir(first)}/lib/shipped.txt`);
    second = await deploy();
    expect(second).not.toBe(first);
    // A fresh release: nothing the first one wrote.
    expect(await getOk('/note')).toBe('none\n');
    // The unchanged shipped file is one inode in both releases, and stays read-only.
    const shippedNow = await statOf(`${releaseDir(second)}/lib/shipped.txt`);
    expect(shippedNow.split(' ')[3]).toBe(shippedBefore.split(' ')[3]);
    expect(await get('/overwrite')).toBe('EACCES\n');
    expect(await getOk('/lib')).toBe('shipped\n');
    // A replacement is a new file of this release's own.
    expect(await getOk('/replace')).toBe('replaced\n');
    expect(await getOk('/')).toBe('replaced by the app\n');
    expect(await inHost(host, ['cat', `${releaseDir(first)}/message.txt`])).toBe('version 1\n');
  });

  it('serves the original again after a rollback', async () => {
    const run = await toss(host, ['rollback', 'production'], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
    expect(await getOk('/')).toBe('version 1\n');
    // The first release's own writes are still its own.
    expect(await getOk('/note')).toBe(`${releaseDir(first)}\n`);
  });

  it('never follows what the app planted in its release', async () => {
    await app.commit('message.txt', 'version 3\n');
    const third = await deploy();
    const shadow = await statOf('/etc/shadow');
    const etc = await statOf('/etc');
    expect(await getOk('/plant')).toBe('planted\n');
    expect(await statOf(`${releaseDir(third)}/message.txt`)).toMatch(/symbolic link$/);
    expect(await statOf(`${releaseDir(third)}/lib`)).toMatch(/symbolic link$/);
    // The next upload ships message.txt and lib/shipped.txt again; rsync reads the live release
    // (--link-dest) and the seal walks the new one, both as root.
    await app.commit('message.txt', 'version 4\n');
    const fourth = await deploy();
    expect(await statOf('/etc/shadow')).toBe(shadow);
    expect(await statOf('/etc')).toBe(etc);
    expect(await statOf(`${releaseDir(fourth)}/message.txt`)).toMatch(/regular file$/);
    expect(await statOf(`${releaseDir(fourth)}/lib`)).toMatch(/directory$/);
    expect(await getOk('/')).toBe('version 4\n');
    expect(await getOk('/lib')).toBe('shipped\n');
  });
});

describe('previews', () => {
  it("write only their own release, never another preview's or production's", async () => {
    for (const env of ['pr-1', 'pr-2']) {
      const run = await toss(host, ['deploy', env], { cwd: app.dir });
      expect(run.code, run.output).toBe(0);
    }
    const state = JSON.parse(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]));
    const pr2 = `/srv/${APP}/pr-2/releases/${state.environments['pr-2'].release}`;
    const prod = releaseDir(state.environments.production.release);
    const attack = async (dir: string) =>
      (await fetchSite(host, sslipName(host, APP, 'pr-1'), `/attack?dir=${dir}`)).body;
    // Both previews run as the same user, and pr-2's release is that user's: only the mount
    // namespace of pr-1's unit (its own release writable, the rest of /srv read-only) stops it.
    expect(await attack(pr2)).toBe('EROFS\n');
    expect(await attack(prod)).toMatch(/^(EACCES|EROFS)\n$/);
    for (const dir of [pr2, prod]) {
      const found = await host.exec(['test', '-e', `${dir}/planted-by-attack`]);
      expect(found.code, `${dir}/planted-by-attack`).not.toBe(0);
    }
  });
});

describe("a preview's first release", () => {
  it("links only root's unchanged files from production's live release, through no link production's app planted", async () => {
    const state = JSON.parse(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]));
    const prod = releaseDir(state.environments.production.release);
    // Production's app makes a file of its own in its release, and turns lib/ into a link to
    // /etc. The preview then ships a file of the same content as each, and one as a file of /etc.
    expect(await getOk('/touch')).toBe('touched\n');
    expect(await statOf(`${prod}/touched`)).toMatch(/^toss-scribe:\S+ 644 /);
    // A hard link to an inode changes its ctime (its link count changed), even once the link is
    // gone again: the seal copies a linked file of an app's away, so only this shows one was made.
    const changedAt = (path: string) => inHost(host, ['stat', '-c', '%z', '--', path]);
    const touchedAt = await changedAt(`${prod}/touched`);
    expect(await getOk('/plant')).toBe('planted\n');
    const etcFile = '/etc/debian_version';
    const etcBefore = await statOf(etcFile);
    // The premise: /etc and /srv are one filesystem here, so root could link one into the other.
    const probe = `/srv/${APP}/link-probe`;
    await inHost(host, ['ln', etcFile, probe]);
    await inHost(host, ['rm', '-f', probe]);
    await app.commit('message.txt', 'a preview\n');
    await app.commit('touched', 'yes\n');
    await app.commit('lib/debian_version', await inHost(host, ['cat', etcFile]));
    const run = await toss(host, ['deploy', 'pr-3'], { cwd: app.dir });
    expect(run.code, run.output).toBe(0);
    const after = JSON.parse(await inHost(host, ['cat', `/srv/${APP}/.toss/state.json`]));
    const pr3 = `/srv/${APP}/pr-3/releases/${after.environments['pr-3'].release}`;
    const inode = (stat: string) => stat.split(' ')[3];
    // The unchanged shipped file is production's inode, root's and read-only.
    const appJs = await statOf(`${pr3}/app.js`);
    expect(inode(appJs)).toBe(inode(await statOf(`${prod}/app.js`)));
    expect(appJs).toMatch(/^root:root 644 /);
    // What production's app made is never linked, not even for a moment: it could rewrite
    // that inode before the seal copied it away.
    const touched = await statOf(`${pr3}/touched`);
    expect(inode(touched)).not.toBe(inode(await statOf(`${prod}/touched`)));
    expect(touched).toMatch(/^root:root 644 1 /);
    expect(await changedAt(`${prod}/touched`)).toBe(touchedAt);
    // The link production's app planted was not followed: /etc's file is not in the preview.
    const linked = await statOf(`${pr3}/lib/debian_version`);
    expect(inode(linked)).not.toBe(inode(etcBefore));
    expect(linked).toMatch(/^root:root 644 1 /);
    expect(await statOf(etcFile)).toBe(etcBefore);
    const res = await fetchSite(host, sslipName(host, APP, 'pr-3'), '/');
    expect(res.body).toBe('a preview\n');
  });
});

describe("the server's rsync with toss's flags", () => {
  it("links only a file that is root's from --link-dest, never one an app owns", async () => {
    const dir = '/tmp/link-owner';
    await inHost(host, [
      'sh',
      '-c',
      `set -e; rm -rf ${dir}; mkdir -p ${dir}/src ${dir}/live
      for f in roots apps; do echo "same $f" > ${dir}/src/$f; echo "same $f" > ${dir}/live/$f; done
      chmod 644 ${dir}/src/* ${dir}/live/*; chown nobody ${dir}/live/apps`,
    ]);
    // The flags of an upload, run inside the host (no remote shell): its rsync, its kernel.
    const argv = buildRsyncArgv({
      source: `${dir}/src`,
      dest: `${dir}/out`,
      remoteShell: 'sh',
      linkDest: `${dir}/live`,
      sudo: false,
    });
    const local = argv.slice(0, argv.indexOf('-e')).concat(`${dir}/src/`, `${dir}/out/`);
    await inHost(host, local);
    const inode = async (path: string) => (await statOf(path)).split(' ')[3];
    expect(await inode(`${dir}/out/roots`)).toBe(await inode(`${dir}/live/roots`));
    expect(await inode(`${dir}/out/apps`)).not.toBe(await inode(`${dir}/live/apps`));
    expect(await statOf(`${dir}/out/apps`)).toMatch(/^root:root 644 1 /);
  });
});

describe('readOnly: true', () => {
  it('keeps the release read-only for the app', async () => {
    app.configure({ readOnly: true });
    await app.commit('message.txt', 'version 5\n');
    const id = await deploy();
    expect(await get('/touch')).toBe('EROFS\n');
    expect(await get('/replace')).toBe('EROFS\n');
    expect(await getOk('/')).toBe('version 5\n');
    expect(await statOf(releaseDir(id))).toMatch(/^root:root /);
  });
});
