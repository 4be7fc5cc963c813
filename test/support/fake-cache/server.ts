/**
 * A fake of GitHub's Actions cache service (version 2, the one `@actions/cache`
 * uses when `ACTIONS_CACHE_SERVICE_V2` is set), for tests that run the real
 * client against it, in process or in the action's child process.
 *
 * The service has three Twirp methods, posted as JSON to
 * `{ACTIONS_RESULTS_URL}/twirp/github.actions.results.api.v1.CacheService/<method>`
 * with `Authorization: Bearer {ACTIONS_RUNTIME_TOKEN}`. The archives themselves
 * go to and come from blob storage through signed URLs the service hands out;
 * here the storage is azurite, Microsoft's emulator.
 *
 * Anything the real client should never send ends up in `violations`, which a
 * test expects to be empty, and is answered with a Twirp error:
 * - another path or HTTP method (404 `bad_route`), including the version 1
 *   service's `_apis/artifactcache` paths a misconfigured client falls back to;
 * - a body other than JSON (404 `bad_route`, as Twirp answers);
 * - a missing or unreadable runtime token (401 `unauthenticated`);
 * - a body the client's own message types refuse, such as an unknown field
 *   (400 `malformed`), or a key or version the client would not send
 *   (400 `invalid_argument`);
 * - finalizing an entry that was not reserved (404 `not_found`), whose archive
 *   was not uploaded or has another size than announced (`ok: false`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Azurite, startAzurite } from './azurite.js';
import {
  CreateCacheEntryRequest,
  CreateCacheEntryResponse,
  FinalizeCacheEntryUploadRequest,
  FinalizeCacheEntryUploadResponse,
  GetCacheEntryDownloadURLRequest,
  GetCacheEntryDownloadURLResponse,
} from './messages.js';
import { EntryStore, type StoredEntry } from './store.js';
import {
  type CacheScope,
  READ_PERMISSION,
  scopesFromToken,
  type TokenOptions,
  tokenFor,
  WRITE_PERMISSION,
} from './token.js';

export { type CacheScope, type TokenOptions, tokenFor } from './token.js';

const SERVICE_PATH = '/twirp/github.actions.results.api.v1.CacheService/';
const CONTAINER = 'actions-cache';
const UPLOAD_URL_LIFETIME_MS = 60 * 60_000;
const DOWNLOAD_URL_LIFETIME_MS = 10 * 60_000;
/** The client names an archive's content by a SHA-256 of its paths and compression. */
const VERSION_PATTERN = /^[0-9a-f]{64}$/;
const MAX_KEY_LENGTH = 512;

export type CacheMethod =
  | 'CreateCacheEntry'
  | 'FinalizeCacheEntryUpload'
  | 'GetCacheEntryDownloadURL';

/**
 * How a call ended: `reserved` (upload URL given), `exists` (that key and
 * version is already in the run's scope), `write-denied` (no writable scope),
 * `committed`, `not-committed` (finalize refused), `hit`, `miss`,
 * `read-denied` (no readable scope), `failed` (the status set by `failWith`),
 * `rejected` (a violation).
 */
export type CallOutcome =
  | 'reserved'
  | 'exists'
  | 'write-denied'
  | 'committed'
  | 'not-committed'
  | 'hit'
  | 'miss'
  | 'read-denied'
  | 'failed'
  | 'rejected';

export interface FakeCacheCall {
  /** The Twirp method, or the request line of a request that reached no method. */
  method: CacheMethod | string;
  key?: string;
  restoreKeys?: string[];
  version?: string;
  /** For a hit, the key of the entry restored. */
  matchedKey?: string;
  outcome: CallOutcome;
  /** HTTP status of the answer. */
  status: number;
}

export interface FakeCacheEntry {
  key: string;
  version: string;
  scope: string;
  /** Archive size in bytes, once finalized. */
  size: number | undefined;
  committed: boolean;
}

export interface FakeCacheOptions {
  /** The repository's default branch as a ref; default `refs/heads/main`. */
  defaultRef?: string;
  /**
   * How a reservation of a key and version the scope already holds is
   * answered: `conflict` (default), HTTP 409 `already_exists`, which is what
   * GitHub's service answers; or `not-ok`, a 200 with `ok: false`.
   */
  existingEntry?: 'conflict' | 'not-ok';
}

export interface FakeCache {
  /** What the runner puts in `ACTIONS_RESULTS_URL`: `http://127.0.0.1:<port>/`. */
  readonly url: string;
  /** The blob endpoint the signed URLs point into. */
  readonly blobEndpoint: string;
  /** How long azurite took to listen, in milliseconds. */
  readonly blobStartMs: number;
  /** Every call the service received, in order. */
  readonly calls: FakeCacheCall[];
  /** What the client did wrong; a passing test expects none. */
  readonly violations: string[];
  /**
   * The variables a job on `ref` gets from the runner for the cache:
   * `ACTIONS_CACHE_SERVICE_V2`, `ACTIONS_RESULTS_URL` and `ACTIONS_RUNTIME_TOKEN`.
   */
  env(ref: string, options?: TokenOptions): Record<string, string>;
  /** A runtime token for a run on `ref` (see `tokenFor` in token.ts). */
  tokenFor(ref: string, options?: TokenOptions): string;
  entries(): FakeCacheEntry[];
  /**
   * Answer every Twirp call with this HTTP status and a Twirp error, as an
   * outage would, until called with null.
   */
  failWith(status: number | null): void;
  /** Stops the blob storage: signed URLs given out no longer answer. */
  stopBlobs(): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeCache(options: FakeCacheOptions = {}): Promise<FakeCache> {
  const blobs = await startAzurite();
  try {
    await blobs.container(CONTAINER).create();
    const service = new CacheService(blobs, options);
    const server = createServer((req, res) => service.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fakeCache(service, server, blobs);
  } catch (error) {
    await blobs.stop();
    throw error;
  }
}

function fakeCache(service: CacheService, server: Server, blobs: Azurite): FakeCache {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    blobEndpoint: blobs.blobEndpoint,
    blobStartMs: blobs.startMs,
    calls: service.calls,
    violations: service.violations,
    env: (ref, tokenOptions) => ({
      ACTIONS_CACHE_SERVICE_V2: 'True',
      ACTIONS_RESULTS_URL: url,
      ACTIONS_RUNTIME_TOKEN: service.tokenFor(ref, tokenOptions),
    }),
    tokenFor: (ref, tokenOptions) => service.tokenFor(ref, tokenOptions),
    entries: () =>
      service.store.all().map((e) => ({
        key: e.key,
        version: e.version,
        scope: e.scope,
        size: e.size,
        committed: e.committed,
      })),
    failWith(status) {
      service.failure = status;
    },
    stopBlobs: () => blobs.stop(),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await blobs.stop();
    },
  };
}

/** An error the service answers in Twirp's format; `violation` says the client was at fault. */
class TwirpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly violation: boolean,
  ) {
    super(message);
  }
}

/** Twirp's error code for an HTTP status, for the failures `failWith` injects. */
function twirpCode(status: number): string {
  const codes: Record<number, string> = {
    400: 'invalid_argument',
    401: 'unauthenticated',
    403: 'permission_denied',
    404: 'not_found',
    408: 'deadline_exceeded',
    409: 'already_exists',
    412: 'failed_precondition',
    429: 'resource_exhausted',
    501: 'unimplemented',
    503: 'unavailable',
  };
  return codes[status] ?? (status >= 500 ? 'internal' : 'unknown');
}

interface Request {
  method: CacheMethod;
  scopes: CacheScope[];
  body: unknown;
  /** The call's record, which the method completes. */
  call: FakeCacheCall;
}

class CacheService {
  readonly store = new EntryStore();
  readonly calls: FakeCacheCall[] = [];
  readonly violations: string[] = [];
  failure: number | null = null;
  private readonly defaultRef: string;

  constructor(
    private readonly blobs: Azurite,
    private readonly options: FakeCacheOptions,
  ) {
    this.defaultRef = options.defaultRef ?? 'refs/heads/main';
  }

  tokenFor(ref: string, options?: TokenOptions): string {
    return tokenFor(ref, this.defaultRef, options);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    // Recorded by its request line until it turns out to be a call of a method.
    const call: FakeCacheCall = {
      method: `${req.method} ${req.url}`,
      outcome: 'rejected',
      status: 0,
    };
    this.calls.push(call);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.answer(req, Buffer.concat(chunks).toString('utf8'), call).then(
        (body) => {
          call.status = 200;
          send(res, 200, body);
        },
        (error: unknown) => this.sendError(req, res, call, error),
      );
    });
  }

  private async answer(req: IncomingMessage, text: string, call: FakeCacheCall): Promise<unknown> {
    const request = this.accept(req, text, call);
    switch (request.method) {
      case 'CreateCacheEntry':
        return this.createCacheEntry(request);
      case 'FinalizeCacheEntryUpload':
        return this.finalizeCacheEntryUpload(request);
      case 'GetCacheEntryDownloadURL':
        return this.getCacheEntryDownloadUrl(request);
    }
  }

  /** Checks what every method shares: the route, the content type, the token and JSON. */
  private accept(req: IncomingMessage, text: string, call: FakeCacheCall): Request {
    const method = routedMethod(req);
    call.method = method;
    const contentType = req.headers['content-type'] ?? '';
    if (!contentType.startsWith('application/json')) {
      throw new TwirpError(404, 'bad_route', `unexpected Content-Type: "${contentType}"`, true);
    }
    const scopes = runtimeScopes(req.headers.authorization);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new TwirpError(400, 'malformed', `the body is not JSON: ${text.slice(0, 200)}`, true);
    }
    return { method, scopes, body, call };
  }

  private async createCacheEntry(request: Request): Promise<unknown> {
    const { key, version } = parse(CreateCacheEntryRequest, request.body);
    const call = Object.assign(request.call, { key, version });
    checkKeyAndVersion(key, version);
    this.injectFailure(call);
    const scope = request.scopes.find((s) => s.permission & WRITE_PERMISSION)?.scope;
    if (!scope) {
      call.outcome = 'write-denied';
      return reply(CreateCacheEntryResponse, {
        ok: false,
        message: 'cache write denied: token has no writable scopes',
      });
    }
    if (this.store.find(key, version, scope)) return this.existing(call);
    const entry = this.store.reserve(key, version, scope);
    call.outcome = 'reserved';
    const signedUploadUrl = this.blobs.signedBlobUrl(
      CONTAINER,
      entry.blob,
      'cw',
      UPLOAD_URL_LIFETIME_MS,
    );
    return reply(CreateCacheEntryResponse, { ok: true, signedUploadUrl });
  }

  private existing(call: FakeCacheCall): unknown {
    call.outcome = 'exists';
    const message = 'cache entry with the same key, version, and scope already exists';
    if (this.options.existingEntry === 'not-ok') {
      return reply(CreateCacheEntryResponse, { ok: false, message });
    }
    throw new TwirpError(409, 'already_exists', message, false);
  }

  private async finalizeCacheEntryUpload(request: Request): Promise<unknown> {
    const { key, version, sizeBytes } = parse(FinalizeCacheEntryUploadRequest, request.body);
    const call = Object.assign(request.call, { key, version });
    checkKeyAndVersion(key, version);
    this.injectFailure(call);
    const scope = request.scopes.find((s) => s.permission & WRITE_PERMISSION)?.scope ?? '';
    const entry = this.store.find(key, version, scope);
    if (!entry || entry.committed) {
      const what = entry ? 'is already committed' : 'was not reserved';
      throw new TwirpError(404, 'not_found', `cache entry ${key} in ${scope} ${what}`, true);
    }
    call.outcome = 'not-committed';
    const refusal = await this.uploadRefusal(entry, Number(sizeBytes));
    if (refusal) {
      this.violations.push(`FinalizeCacheEntryUpload ${key}: ${refusal}`);
      return reply(FinalizeCacheEntryUploadResponse, { ok: false, message: refusal });
    }
    entry.committed = true;
    entry.size = Number(sizeBytes);
    call.outcome = 'committed';
    return reply(FinalizeCacheEntryUploadResponse, { ok: true, entryId: String(entry.id) });
  }

  /** Why the uploaded archive cannot be committed with `sizeBytes`, if it cannot. */
  private async uploadRefusal(entry: StoredEntry, sizeBytes: number): Promise<string | undefined> {
    let uploaded: number | undefined;
    try {
      const blob = this.blobs.container(CONTAINER).getBlockBlobClient(entry.blob);
      uploaded = (await blob.getProperties()).contentLength;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) {
        throw new TwirpError(500, 'internal', `blob storage: ${(error as Error).message}`, false);
      }
      return 'the archive was not uploaded';
    }
    if (uploaded !== sizeBytes) {
      return `the uploaded archive has ${uploaded} bytes, not the ${sizeBytes} announced`;
    }
    return undefined;
  }

  private async getCacheEntryDownloadUrl(request: Request): Promise<unknown> {
    const { key, restoreKeys, version } = parse(GetCacheEntryDownloadURLRequest, request.body);
    const call = Object.assign(request.call, { key, restoreKeys, version });
    checkKeyAndVersion(key, version);
    this.injectFailure(call);
    const readable = request.scopes.filter((s) => s.permission & READ_PERMISSION);
    if (readable.length === 0) {
      call.outcome = 'read-denied';
      const message = 'cache read denied: token has no readable scopes';
      throw new TwirpError(403, 'permission_denied', message, false);
    }
    const scopes = readable.map((s) => s.scope);
    const entry = this.store.match(scopes, key, restoreKeys, version);
    if (!entry) {
      call.outcome = 'miss';
      return reply(GetCacheEntryDownloadURLResponse, { ok: false });
    }
    call.outcome = 'hit';
    call.matchedKey = entry.key;
    return reply(GetCacheEntryDownloadURLResponse, {
      ok: true,
      matchedKey: entry.key,
      signedDownloadUrl: this.blobs.signedBlobUrl(
        CONTAINER,
        entry.blob,
        'r',
        DOWNLOAD_URL_LIFETIME_MS,
      ),
    });
  }

  private injectFailure(call: FakeCacheCall): void {
    if (this.failure === null) return;
    call.outcome = 'failed';
    const message = `the fake cache service fails with ${this.failure} on purpose`;
    throw new TwirpError(this.failure, twirpCode(this.failure), message, false);
  }

  private sendError(
    req: IncomingMessage,
    res: ServerResponse,
    call: FakeCacheCall,
    error: unknown,
  ): void {
    const twirp =
      error instanceof TwirpError
        ? error
        : new TwirpError(500, 'internal', `the fake failed: ${String(error)}`, true);
    if (twirp.violation) this.violations.push(`${req.method} ${req.url}: ${twirp.message}`);
    call.status = twirp.status;
    send(res, twirp.status, { code: twirp.code, msg: twirp.message });
  }
}

function routedMethod(req: IncomingMessage): CacheMethod {
  const path = new URL(req.url ?? '/', 'http://fake').pathname;
  if (path.startsWith('/_apis/artifactcache/')) {
    const why =
      'the client used the version 1 cache service: ACTIONS_CACHE_SERVICE_V2 is unset, ' +
      'or GITHUB_SERVER_URL is not github.com, which the client takes for GitHub Enterprise Server';
    throw new TwirpError(404, 'bad_route', why, true);
  }
  const method = path.startsWith(SERVICE_PATH) ? path.slice(SERVICE_PATH.length) : '';
  const known: readonly string[] = [
    'CreateCacheEntry',
    'FinalizeCacheEntryUpload',
    'GetCacheEntryDownloadURL',
  ];
  if (req.method !== 'POST' || !known.includes(method)) {
    throw new TwirpError(404, 'bad_route', `no such method: ${req.method} ${path}`, true);
  }
  return method as CacheMethod;
}

function runtimeScopes(authorization: string | undefined): CacheScope[] {
  const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  if (!token) {
    throw new TwirpError(401, 'unauthenticated', 'no "Authorization: Bearer" header', true);
  }
  try {
    return scopesFromToken(token);
  } catch (error) {
    throw new TwirpError(401, 'unauthenticated', (error as Error).message, true);
  }
}

interface MessageType<T> {
  fromJson(json: never): T;
  toJson(message: T, options: { useProtoFieldName: boolean; emitDefaultValues: boolean }): unknown;
  create(value?: Partial<T>): T;
}

/** A request parsed with the client's own type, which refuses unknown fields. */
function parse<T>(type: MessageType<T>, body: unknown): T {
  try {
    return type.fromJson(body as never);
  } catch (error) {
    throw new TwirpError(400, 'malformed', (error as Error).message, true);
  }
}

/**
 * A response as the service's Twirp server writes it: field names as in the
 * protobuf description (`signed_upload_url`) and defaults included. The client
 * looks for those names to mask the URLs' signatures in its logs.
 */
function reply<T>(type: MessageType<T>, fields: Partial<T>): unknown {
  return type.toJson(type.create(fields), { useProtoFieldName: true, emitDefaultValues: true });
}

function checkKeyAndVersion(key: string, version: string): void {
  if (key === '' || key.length > MAX_KEY_LENGTH || key.includes(',')) {
    throw new TwirpError(400, 'invalid_argument', `invalid cache key: "${key}"`, true);
  }
  if (!VERSION_PATTERN.test(version)) {
    throw new TwirpError(400, 'invalid_argument', `invalid cache version: "${version}"`, true);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
