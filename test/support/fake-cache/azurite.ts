/**
 * Microsoft's Azure Storage emulator (azurite, blob service only) as a child
 * process, standing in for the blob storage behind GitHub's cache service.
 *
 * azurite needs Node 22 or later while the tests also run on Node 20, so it
 * runs on the Node 24 the tests fetch for themselves. It listens on a port the
 * system picks and says which on its standard output.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  BlobSASPermissions,
  BlobServiceClient,
  type ContainerClient,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { node24 } from '../node24.js';

/** The emulator's well-known development account, published in azurite's README. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const STARTUP_TIMEOUT_MS = 30_000;
const LISTENING = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/;

export interface Azurite {
  /** Blob endpoint of the well-known account: `http://127.0.0.1:<port>/devstoreaccount1`. */
  readonly blobEndpoint: string;
  readonly port: number;
  /** Milliseconds from spawning the emulator to its listening. */
  readonly startMs: number;
  /** A client for one container, signed with the account key; it does not retry. */
  container(name: string): ContainerClient;
  /**
   * A URL for one blob signed with a SAS (shared access signature) that allows
   * `permissions` (letters of `racwd…`, as Azure spells them) for `lifetimeMs`.
   */
  signedBlobUrl(container: string, blob: string, permissions: string, lifetimeMs: number): string;
  /** True until `stop()` or the process ends. */
  running(): boolean;
  /** Kills the emulator, waits for it to exit and removes its data. */
  stop(): Promise<void>;
}

export async function startAzurite(): Promise<Azurite> {
  const location = await mkdtemp(join(tmpdir(), 'toss-azurite-'));
  const started = Date.now();
  const node = node24();
  const child = spawn(node, [azuriteBlobMain(), ...azuriteArgs(location)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: azuriteEnv(node),
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let port: number;
  try {
    port = await listeningPort(child);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(location, { recursive: true, force: true });
    throw error;
  }
  const startMs = Date.now() - started;
  const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY);
  // One attempt: when a test stops the emulator, the fake should notice at once
  // instead of waiting through the SDK's backoff.
  const service = new BlobServiceClient(blobEndpoint, credential, {
    retryOptions: { maxTries: 1 },
  });
  let stopped = false;
  return {
    blobEndpoint,
    port,
    startMs,
    container: (name) => service.getContainerClient(name),
    signedBlobUrl(container, blob, permissions, lifetimeMs) {
      const sas = generateBlobSASQueryParameters(
        {
          containerName: container,
          blobName: blob,
          permissions: BlobSASPermissions.parse(permissions),
          protocol: SASProtocol.HttpsAndHttp,
          startsOn: new Date(Date.now() - 60_000),
          expiresOn: new Date(Date.now() + lifetimeMs),
        },
        credential,
      );
      return `${blobEndpoint}/${container}/${encodeURIComponent(blob)}?${sas.toString()}`;
    },
    running: () => !stopped && child.exitCode === null && child.signalCode === null,
    async stop() {
      if (!stopped) {
        stopped = true;
        process.off('exit', killOnExit);
        await killAndWait(child);
        await rm(location, { recursive: true, force: true });
      }
    },
  };
}

function azuriteBlobMain(): string {
  const require = createRequire(import.meta.url);
  return join(require.resolve('azurite/package.json'), '..', 'dist', 'src', 'blob', 'main.js');
}

/**
 * A small environment of its own: none of the test process's NODE_OPTIONS
 * (meant for Node 20) and no AZURITE_* settings that would change its accounts
 * or storage. Node keeps the compiled code of azurite's ~3500 modules between
 * runs, which trims its start a little.
 */
function azuriteEnv(node: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    NODE_COMPILE_CACHE: join(dirname(node), '..', '..', 'compile-cache'),
  };
  for (const name of ['PATH', 'HOME', 'TMPDIR']) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  return env;
}

function azuriteArgs(location: string): string[] {
  return [
    '--location',
    location,
    '--silent',
    '--skipApiVersionCheck',
    '--loose',
    '--disableTelemetry',
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    '0',
  ];
}

/** Resolves with the port azurite reports once it listens; rejects if it exits or stalls. */
function listeningPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(
      () => fail(`azurite did not listen within ${STARTUP_TIMEOUT_MS} ms`),
      STARTUP_TIMEOUT_MS,
    );
    const onExit = (code: number | null, signal: string | null) =>
      fail(`azurite exited (${signal ?? code}) before listening`);
    function finish() {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout?.removeAllListeners('data');
      child.stdout?.resume();
      child.stderr?.resume();
    }
    function fail(reason: string) {
      finish();
      reject(new Error(`${reason}\nstdout: ${stdout}\nstderr: ${stderr}`));
    }
    child.once('exit', onExit);
    child.once('error', (error) => fail(`azurite did not start: ${error.message}`));
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = LISTENING.exec(stdout);
      if (match) {
        finish();
        resolve(Number(match[1]));
      }
    });
  });
}

function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
