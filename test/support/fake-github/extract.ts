/**
 * Extracts, from GitHub's own REST description (`@octokit/openapi`), just the
 * operations the toss action calls plus every component they reference
 * (transitively), as a small in-memory OpenAPI document. The fake GitHub
 * validates every request and response against it; any other operation is
 * "not allowed".
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export type HttpMethod = 'get' | 'post' | 'patch' | 'put' | 'delete';

export interface AllowedOperation {
  method: HttpMethod;
  path: string;
}

/** The REST operations the action uses — nothing else is answered. */
export const ALLOWED_OPERATIONS: readonly AllowedOperation[] = [
  { method: 'get', path: '/user' },
  { method: 'get', path: '/repos/{owner}/{repo}/issues/{issue_number}/comments' },
  { method: 'post', path: '/repos/{owner}/{repo}/issues/{issue_number}/comments' },
  { method: 'patch', path: '/repos/{owner}/{repo}/issues/comments/{comment_id}' },
  { method: 'get', path: '/repos/{owner}/{repo}/pulls/{pull_number}' },
  { method: 'get', path: '/repos/{owner}/{repo}/pulls' },
  { method: 'post', path: '/repos/{owner}/{repo}/deployments' },
  { method: 'get', path: '/repos/{owner}/{repo}/deployments' },
  { method: 'post', path: '/repos/{owner}/{repo}/deployments/{deployment_id}/statuses' },
  { method: 'get', path: '/repos/{owner}/{repo}/deployments/{deployment_id}/statuses' },
];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A (loosely typed) OpenAPI 3.0 document: only what the fake needs to read. */
export interface ExtractedDocument {
  openapi: string;
  info: { title: string; version: string };
  servers: { url: string }[];
  paths: Record<string, Record<string, JsonObject>>;
  components: Record<string, Record<string, JsonObject>>;
}

export interface ExtractResult {
  document: ExtractedDocument;
  /** operationId → method and path template, e.g. `issues/list-comments`. */
  operations: Map<string, AllowedOperation>;
  /** Size of the extract serialised as JSON, in bytes. */
  bytes: number;
  /** Time spent reading, parsing and extracting, in ms (0 when cached). */
  millis: number;
  /** Version of `@octokit/openapi` the description came from. */
  sourceVersion: string;
}

function descriptionPath(): { file: string; version: string } {
  const require = createRequire(import.meta.url);
  const pkgFile = require.resolve('@octokit/openapi/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string };
  return {
    file: pkgFile.replace(/package\.json$/, 'generated/api.github.com.json'),
    version: pkg.version,
  };
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Deep-copies `value`, dropping what validation never reads (`examples`,
 * `example`, `externalDocs`) and collecting every `$ref` it meets.
 */
function copyCollecting(value: Json, refs: Set<string>): Json {
  if (Array.isArray(value)) return value.map((item) => copyCollecting(item, refs));
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === 'examples' || key === 'example' || key === 'externalDocs') continue;
    if (key === '$ref' && typeof child === 'string') refs.add(child);
    out[key] = copyCollecting(child, refs);
  }
  return out;
}

function extractFrom(
  source: JsonObject,
): ExtractedDocument & { operationIds: Map<string, AllowedOperation> } {
  const paths = source.paths;
  const components = source.components;
  if (!isObject(paths) || !isObject(components)) throw new Error('not an OpenAPI description');
  const refs = new Set<string>();
  const outPaths: Record<string, Record<string, JsonObject>> = {};
  const operationIds = new Map<string, AllowedOperation>();
  for (const op of ALLOWED_OPERATIONS) {
    const item = paths[op.path];
    const operation = isObject(item) ? item[op.method] : undefined;
    if (!isObject(item) || !isObject(operation)) {
      throw new Error(`GitHub's description has no ${op.method.toUpperCase()} ${op.path}`);
    }
    const copy = copyCollecting(operation, refs) as JsonObject;
    delete copy.description;
    const pathItem = outPaths[op.path] ?? {};
    outPaths[op.path] = pathItem;
    if (Array.isArray(item.parameters)) {
      pathItem.parameters = copyCollecting(item.parameters, refs) as unknown as JsonObject;
    }
    pathItem[op.method] = copy;
    operationIds.set(String(operation.operationId), op);
  }
  // Resolve components transitively.
  const outComponents: Record<string, Record<string, JsonObject>> = {};
  const done = new Set<string>();
  const queue = [...refs];
  while (queue.length > 0) {
    const ref = queue.pop()!;
    if (done.has(ref)) continue;
    done.add(ref);
    const match = /^#\/components\/([^/]+)\/([^/]+)$/.exec(ref);
    if (!match) throw new Error(`unsupported $ref ${ref}`);
    const [, kind, name] = match as unknown as [string, string, string];
    const group = components[kind];
    const target = isObject(group) ? group[name] : undefined;
    if (!isObject(target)) throw new Error(`dangling $ref ${ref}`);
    const found = new Set<string>();
    const outGroup = outComponents[kind] ?? {};
    outComponents[kind] = outGroup;
    outGroup[name] = copyCollecting(target, found) as JsonObject;
    for (const r of found) if (!done.has(r)) queue.push(r);
  }
  return {
    openapi: String(source.openapi),
    info: { title: 'GitHub REST API (toss fake extract)', version: '1.0.0' },
    servers: [{ url: '/' }],
    paths: outPaths,
    components: outComponents,
    operationIds,
  };
}

let cached: ExtractResult | undefined;

/**
 * The extract, computed once per process (parsing the 13 MB description takes
 * about half a second). Callers get a fresh deep copy of the document, since
 * openapi-backend dereferences the document it is given in place.
 */
export function extractGitHubApi(): ExtractResult {
  if (!cached) {
    const started = performance.now();
    const { file, version } = descriptionPath();
    const source = JSON.parse(readFileSync(file, 'utf8')) as JsonObject;
    const { operationIds, ...document } = extractFrom(source);
    const text = JSON.stringify(document);
    cached = {
      document,
      operations: operationIds,
      bytes: Buffer.byteLength(text),
      millis: performance.now() - started,
      sourceVersion: version,
    };
    return { ...cached, document: structuredClone(document) };
  }
  return { ...cached, document: structuredClone(cached.document), millis: 0 };
}
