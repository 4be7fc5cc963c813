/**
 * The validating half of the fake GitHub: one `openapi-backend` instance per
 * process over the extract (routing + request validation), and one Ajv
 * instance from that backend for response bodies, in which every component
 * is compiled once and shared between operations.
 *
 * Why not `backend.validateResponse()`: it compiles, per operation, one
 * validator per documented status over the fully dereferenced schema — for
 * `pulls/get` the `repository` schema twice, with every user inlined — about
 * 1.3 s of CPU for the ten operations on this machine; compiling against the
 * shared components costs less than half of that, and it is paid once per process.
 */
import addFormatsModule from 'ajv-formats';
import {
  type Context,
  OpenAPIBackend,
  type OpenAPIValidator,
  type ValidationContext,
} from 'openapi-backend';
import { type AllowedOperation, type ExtractedDocument, extractGitHubApi } from './extract.js';

type Ajv = ReturnType<OpenAPIValidator['getAjv']>;
type ValidateFunction = ReturnType<Ajv['compile']>;
type AjvError = NonNullable<ValidateFunction['errors']>[number];
type FormatsPlugin = (ajv: Ajv) => Ajv;

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default
// import is the whole module, at run time it may be either.
const addFormats: FormatsPlugin =
  (addFormatsModule as unknown as { default?: FormatsPlugin }).default ??
  (addFormatsModule as unknown as FormatsPlugin);

/** What a handler answers; the server validates it, then sends it. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** The fake's side of the dispatch: the shared backend calls into it per request. */
export interface Dispatcher<Extra = unknown> {
  operation(context: Context, url: URL, extra: Extra): Reply;
  validationFail(context: Context, url: URL, extra: Extra): Reply;
  notAllowed(context: Context): Reply;
}

export interface GitHubApi {
  backend: OpenAPIBackend;
  operations: ReadonlyMap<string, AllowedOperation>;
  /**
   * Problems with a response body: `undefined` when the status is documented
   * and the body fits (or the status has no JSON body), the schema errors
   * otherwise; `'undocumented'` when GitHub's description lists no such
   * status for the operation.
   */
  checkResponse(operationId: string, status: number, body: unknown): string[] | 'undocumented';
  /** Names of the operation's query parameters. */
  queryParameters(operationId: string): ReadonlySet<string>;
  /** Names of the request body's top-level properties, if it has a JSON body. */
  bodyProperties(operationId: string): ReadonlySet<string> | undefined;
  stats: {
    extractMillis: number;
    extractBytes: number;
    setupMillis: number;
    sourceVersion: string;
  };
}

const SCHEMA_ID = 'github-extract.json';

function pointer(...segments: string[]): string {
  return segments.map((s) => s.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
}

/** `/requestBody/body must be string`, with the allowed values or the property where useful. */
export function formatAjvError(error: AjvError): string {
  const params = error.params as Record<string, unknown>;
  let text = `${error.instancePath || '/'} ${error.message ?? 'is invalid'}`;
  if (Array.isArray(params.allowedValues)) text += ` (${params.allowedValues.join(', ')})`;
  if (typeof params.additionalProperty === 'string') text += ` (${params.additionalProperty})`;
  return text;
}

type RawObject = Record<string, unknown>;

function asObject(value: unknown): RawObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as RawObject)
    : undefined;
}

function resolveRef(
  document: ExtractedDocument,
  value: unknown,
): { object?: RawObject; at: string } {
  const object = asObject(value);
  const ref = object?.$ref;
  if (typeof ref !== 'string') return { object, at: '' };
  const [, kind, name] = ref.split('/').slice(1);
  return { object: document.components[kind ?? '']?.[name ?? ''], at: ref.slice(1) };
}

async function build(): Promise<GitHubApi> {
  const extract = extractGitHubApi();
  const started = performance.now();
  // openapi-backend dereferences the document it is given in place: keep a
  // pristine copy (with its $refs) for the response validator.
  const raw = extractGitHubApi().document;
  // One backend serves every fake in the process: each request passes its
  // fake, URL and record as handler arguments.
  type Handler = (context: Context, target: Dispatcher, url: URL, extra: unknown) => Reply;
  const handlers: Record<string, Handler> = {
    validationFail: (context, target, url, extra) => target.validationFail(context, url, extra),
    notFound: (context, target) => target.notAllowed(context),
    methodNotAllowed: (context, target) => target.notAllowed(context),
  };
  for (const operationId of extract.operations.keys()) {
    handlers[operationId] = (context, target, url, extra) => target.operation(context, url, extra);
  }
  const backend = new OpenAPIBackend({
    definition: extract.document as never,
    validate: true,
    // `quick`: no validation of the (known good) extract at start, validators
    // compiled on first use; `validateSchema: false`: no meta-schema compile
    // per Ajv instance (that alone costs ~50-100 ms each).
    quick: true,
    ajvOpts: { validateSchema: false },
    customizeAjv: (ajv, _opts, context) => {
      addFormats(ajv);
      if (context === ('responseValidator' as ValidationContext)) {
        // GitHub answers `""` for URL fields that were never set
        // (`target_url`, `environment_url`, `log_url` of a deployment
        // status), although the description types them `format: uri`.
        const uri = ajv.formats.uri;
        ajv.addFormat('uri', (value: string) => value === '' || testFormat(uri, value));
      }
      return ajv;
    },
    handlers,
  });
  await backend.init();

  const ajv = backend.validator.getAjv('responseValidator' as ValidationContext, {
    allErrors: true,
    inlineRefs: false,
  });
  ajv.addSchema(raw as unknown as RawObject, SCHEMA_ID);
  const validators = new Map<string, ValidateFunction | null | 'undocumented'>();
  const queryNames = new Map<string, Set<string>>();
  const bodyNames = new Map<string, Set<string> | undefined>();
  for (const [operationId, op] of extract.operations) {
    const operation = asObject(raw.paths[op.path]?.[op.method]);
    const names = new Set<string>();
    for (const parameter of (operation?.parameters as unknown[] | undefined) ?? []) {
      const { object } = resolveRef(raw, parameter);
      if (object?.in === 'query' && typeof object.name === 'string') names.add(object.name);
    }
    queryNames.set(operationId, names);
    const requestBody = asObject(operation?.requestBody);
    const schema = asObject(asObject(asObject(requestBody?.content)?.['application/json'])?.schema);
    const properties = asObject(schema?.properties);
    bodyNames.set(operationId, properties ? new Set(Object.keys(properties)) : undefined);
  }

  function validatorFor(
    operationId: string,
    status: number,
  ): ValidateFunction | null | 'undocumented' {
    const key = `${operationId} ${status}`;
    let validate = validators.get(key);
    if (validate !== undefined) return validate;
    const op = extract.operations.get(operationId);
    if (!op) throw new Error(`unknown operation ${operationId}`);
    const responses = asObject(raw.paths[op.path]?.[op.method]?.responses);
    const documented = responses?.[String(status)];
    if (documented === undefined) {
      validate = 'undocumented';
    } else {
      const { object, at } = resolveRef(raw, documented);
      const base = at || `/${pointer('paths', op.path, op.method, 'responses', String(status))}`;
      const media = asObject(asObject(object?.content)?.['application/json']);
      validate = media?.schema
        ? ajv.compile({
            $ref: `${SCHEMA_ID}#${base}/${pointer('content', 'application/json', 'schema')}`,
          })
        : null;
    }
    validators.set(key, validate);
    return validate;
  }

  return {
    backend,
    operations: extract.operations,
    checkResponse(operationId, status, body) {
      const validate = validatorFor(operationId, status);
      if (validate === 'undocumented') return 'undocumented';
      if (validate === null || validate(body)) return [];
      return (validate.errors ?? []).map(formatAjvError);
    },
    queryParameters: (operationId) => queryNames.get(operationId) ?? new Set(),
    bodyProperties: (operationId) => bodyNames.get(operationId),
    stats: {
      extractMillis: extract.millis,
      extractBytes: extract.bytes,
      setupMillis: performance.now() - started,
      sourceVersion: extract.sourceVersion,
    },
  };
}

type AddedFormat = Ajv['formats'][string];

function testFormat(format: AddedFormat, value: string): boolean {
  if (format === undefined || format === true) return true;
  if (format instanceof RegExp) return format.test(value);
  if (typeof format === 'function') return Boolean(format(value));
  if (typeof format === 'string') return new RegExp(format).test(value);
  const validate = format.validate;
  if (validate instanceof RegExp) return validate.test(value);
  if (typeof validate === 'string') return new RegExp(validate).test(value);
  return Boolean((validate as (v: string) => boolean | Promise<unknown>)(value));
}

let shared: Promise<GitHubApi> | undefined;

/** The backend and validators, built once per process. */
export function loadGitHubApi(): Promise<GitHubApi> {
  shared ??= build();
  return shared;
}
