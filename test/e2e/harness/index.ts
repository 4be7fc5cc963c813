/** The test-server harness: real Debian hosts (systemd, sshd, Caddy) in systemd-nspawn. */
export { type BootOptions, bootHost, bootHosts } from './boot.js';
export { sweepStale } from './lease.js';
export { checkPrerequisites } from './prerequisites.js';
export type { Image } from './recipe.js';
export { shutdownAll } from './registry.js';
export { ensureRootfs, ensureTestKey } from './rootfs.js';
export type { TestHost, TestHostUser } from './types.js';
