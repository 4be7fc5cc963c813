/** Checks this machine can run test hosts; installs what is missing on Debian/Ubuntu as root. */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

// program → the Debian/Ubuntu package that ships it
const PROGRAMS: Record<string, string> = {
  mmdebstrap: 'mmdebstrap',
  'systemd-nspawn': 'systemd-container',
  rsync: 'rsync',
  zstd: 'zstd',
  tar: 'tar',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  curl: 'curl',
  ip: 'iproute2',
  nsenter: 'util-linux',
  mount: 'mount',
  umount: 'mount',
  // the provisioning tests serve a bare host the .debs it installs, indexed by dpkg-scanpackages
  'dpkg-scanpackages': 'dpkg-dev',
};

function onPath(program: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

function osRelease(): Record<string, string> {
  try {
    const out: Record<string, string> = {};
    for (const line of readFileSync('/etc/os-release', 'utf8').split('\n')) {
      const m = /^([A-Z_]+)=("?)(.*)\2$/.exec(line);
      if (m?.[1] && m[3] !== undefined) out[m[1]] = m[3];
    }
    return out;
  } catch {
    return {};
  }
}

/** Debian has debian.sources / a Debian sources.list; elsewhere mmdebstrap needs Debian's keyring. */
function needsDebianKeyring(): boolean {
  return osRelease().ID !== 'debian';
}

function missingPackages(): { packages: string[]; programs: string[] } {
  const programs = Object.keys(PROGRAMS).filter((p) => !onPath(p));
  const packages = new Set(programs.map((p) => PROGRAMS[p] as string));
  if (needsDebianKeyring() && !existsSync(DEBIAN_KEYRING)) packages.add('debian-archive-keyring');
  return { packages: [...packages], programs };
}

function overlaySupported(): boolean {
  const has = () => readFileSync('/proc/filesystems', 'utf8').includes('\toverlay\n');
  if (has()) return true;
  // The module may just not be loaded yet.
  spawnSync('modprobe', ['overlay'], { stdio: 'ignore' });
  return has();
}

function aptInstall(packages: string[]): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const argv of [
    ['apt-get', 'update'],
    ['apt-get', 'install', '-y', '--no-install-recommends', ...packages],
  ]) {
    console.log(`toss-testhost: running: ${argv.join(' ')}`);
    const r = spawnSync(argv[0] as string, argv.slice(1), { env, stdio: 'inherit' });
    if (r.status !== 0)
      throw new Error(`toss-testhost: ${argv.join(' ')} failed (exit ${r.status})`);
  }
}

let checked = false;

/** Throws an Error naming everything that is missing; never skips. */
export function checkPrerequisites(): void {
  if (checked) return;
  const problems: string[] = [];
  if (process.platform !== 'linux') {
    throw new Error(`toss-testhost: test hosts need Linux (this is ${process.platform})`);
  }
  if (process.getuid?.() !== 0) {
    problems.push(
      'not root: test hosts need root (namespaces, mounts, systemd-nspawn); run the tests as root, ' +
        'e.g. sudo -n -E env PATH="$PATH" npx vitest run --project e2e',
    );
  }
  let missing = missingPackages();
  if (missing.packages.length > 0 && problems.length === 0) {
    const os = osRelease();
    const debianLike = [os.ID, ...(os.ID_LIKE ?? '').split(' ')].some(
      (id) => id === 'debian' || id === 'ubuntu',
    );
    if (debianLike && onPath('apt-get')) {
      console.log(`toss-testhost: installing missing packages: ${missing.packages.join(' ')}`);
      aptInstall(missing.packages);
      missing = missingPackages();
    }
  }
  if (missing.packages.length > 0) {
    problems.push(
      `missing programs/files: ${[...missing.programs, ...(missing.packages.includes('debian-archive-keyring') ? [DEBIAN_KEYRING] : [])].join(', ')} ` +
        `(packages: ${missing.packages.join(' ')})`,
    );
  }
  if (!overlaySupported()) problems.push('the kernel has no overlay filesystem (modprobe overlay)');
  if (!existsSync('/sys/fs/cgroup')) problems.push('/sys/fs/cgroup is not mounted');
  if (!existsSync('/proc/self/ns/net')) problems.push('the kernel has no network namespaces');
  if (problems.length > 0) {
    throw new Error(`toss-testhost: cannot run test hosts:\n  - ${problems.join('\n  - ')}`);
  }
  checked = true;
}
