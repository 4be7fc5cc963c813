/**
 * A small stateful fake of GitHub's REST API for testing the toss action
 * (`dist/index.js` run as a child process with `GITHUB_API_URL` = `fake.url`).
 *
 * Only the operations the action uses are answered (see `extract.ts`); every
 * request is validated against GitHub's own description of that operation,
 * and so is every response the fake sends. Anything wrong ends up in
 * `violations`, which a test should expect to be empty:
 * - a request for any other operation (answered 404);
 * - a request that breaks the schema (answered 422 "Validation Failed");
 * - a request body field or query parameter the operation does not define
 *   (GitHub ignores those silently, so they are typos);
 * - a missing Authorization header (answered 401);
 * - a repository other than the fake's own (answered 404);
 * - what real GitHub refuses beyond the schema: a deployment without
 *   `required_contexts: []` or `auto_merge: false` (409, as GitHub does while
 *   the ref's checks are pending), a comment over 65536 characters or a
 *   deployment-status description over 140 (422);
 * - editing a comment whose author is not the token's identity;
 * - a response of the fake's own that breaks the schema, or has a 2xx/3xx
 *   status GitHub does not document for the operation.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'openapi-backend';
import {
  type Dispatcher,
  formatAjvError,
  type GitHubApi,
  loadGitHubApi,
  type Reply,
} from './api.js';
import {
  type AuthorAssociation,
  type Deployment,
  type DeploymentState,
  type DeploymentStatus,
  fakeSha,
  GITHUB_ACTIONS_BOT_ID,
  type IssueComment,
  isoNow,
  makePublicUser,
  makeReactions,
  makeRepository,
  makeUser,
  nodeId,
  type PullRef,
  type PullRequest,
  type PullRequestSimple,
  type Repository,
  type SimpleUser,
  type Urls,
} from './objects.js';

export type {
  Deployment,
  DeploymentState,
  DeploymentStatus,
  IssueComment,
  PullRequest,
  PullRequestSimple,
  Repository,
  SimpleUser,
} from './objects.js';

export interface FakeGitHubOptions {
  /** Repository owner; default `Codertocat`, as in `@octokit/webhooks-examples`. */
  owner?: string;
  /** Repository name; default `Hello-World`, as in `@octokit/webhooks-examples`. */
  repo?: string;
  /** Default branch; default `master`, as in `@octokit/webhooks-examples`. */
  defaultBranch?: string;
  /** Login of the token's identity (author of the comments and deployments it creates). */
  tokenLogin?: string;
  /**
   * Answer `GET /user` with the token's user. Default false: 403 "Resource
   * not accessible by integration", as for a workflow's `GITHUB_TOKEN`.
   */
  userEndpoint?: boolean;
  /** Where HTML links point; default `https://github.com`. */
  serverUrl?: string;
}

export interface PullSeed {
  number: number;
  state: 'open' | 'closed';
  /** 40-hex SHA of the head commit (what a deployment's `ref` must be). */
  headSha: string;
  /** Head branch name. */
  headRef: string;
  /** Base branch; default: the default branch. */
  baseRef?: string;
  title?: string;
  body?: string | null;
  /** Only for a closed pull request. */
  merged?: boolean;
  draft?: boolean;
  /** Author; default: the repository owner (or `headOwner` for a fork). */
  login?: string;
  /** Owner of the head repository; a fork when it differs from the repository owner. */
  headOwner?: string;
}

export interface CommentSeed {
  body: string;
  /** Author; use `fake.tokenLogin` for a comment the action itself left earlier. */
  login: string;
  createdAt?: Date;
}

export interface DeploymentSeed {
  ref: string;
  environment: string;
  /** Default: what `ref` resolves to. */
  sha?: string;
  task?: string;
  description?: string | null;
  transient?: boolean;
  production?: boolean;
  login?: string;
}

export interface StatusSeed {
  state: DeploymentState;
  environmentUrl?: string;
  logUrl?: string;
  description?: string;
  environment?: string;
}

export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/repos/o/r/issues/1/comments`. */
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body, or undefined. */
  body: unknown;
  /** Status the fake answered. */
  status: number;
  /** GitHub's operationId, e.g. `issues/list-comments`; undefined for a disallowed operation. */
  operationId?: string;
}

export interface FakeGitHub {
  /** Base URL, `http://127.0.0.1:<port>`: use as `GITHUB_API_URL` or octokit's `baseUrl`. */
  readonly url: string;
  readonly owner: string;
  readonly repo: string;
  /** `owner/repo`, for `GITHUB_REPOSITORY`. */
  readonly repository: string;
  readonly defaultBranch: string;
  readonly tokenLogin: string;
  /** Every request received, in order (seeders are not requests). */
  readonly requests: RecordedRequest[];
  /** Everything that went wrong, one line each; a passing test expects `[]`. */
  readonly violations: string[];
  addPull(seed: PullSeed): PullRequest;
  /** Changes a pull request, e.g. `{ state: 'closed', merged: true }` or a new `headSha`. */
  updatePull(number: number, patch: Partial<Omit<PullSeed, 'number'>>): PullRequest;
  /** Plants a comment (e.g. 150 foreign ones, or an earlier sticky comment) on an existing pull request. */
  addComment(issueNumber: number, seed: CommentSeed): IssueComment;
  /** Plants a deployment, as an earlier run would have created it. */
  addDeployment(seed: DeploymentSeed): Deployment;
  /** Plants a deployment status (applies `auto_inactive` like the API). */
  addStatus(deploymentId: number, seed: StatusSeed): DeploymentStatus;
  pull(number: number): PullRequest | undefined;
  /** Comments on an issue or pull request, oldest first (by id). */
  comments(issueNumber: number): IssueComment[];
  /** Deployments, oldest first. */
  deployments(): Deployment[];
  /** Statuses of a deployment, oldest first (the API lists newest first). */
  statuses(deploymentId: number): DeploymentStatus[];
  close(): Promise<void>;
}

const DOCS = 'https://docs.github.com/rest';
const MAX_COMMENT = 65536;
const MAX_STATUS_DESCRIPTION = 140;

interface PullState {
  id: number;
  number: number;
  state: 'open' | 'closed';
  headSha: string;
  headRef: string;
  baseRef: string;
  title: string;
  body: string | null;
  merged: boolean;
  draft: boolean;
  login: string;
  headOwner: string;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  mergedAt: string | null;
}

interface DeploymentState2 {
  deployment: Deployment;
  statuses: DeploymentStatus[];
}

class HttpError {
  constructor(readonly reply: Reply) {}
}

function errorReply(status: number, message: string, extra: Record<string, unknown> = {}): Reply {
  return {
    status,
    body: { message, documentation_url: DOCS, status: String(status), ...extra },
  };
}

function fail(status: number, message: string, extra?: Record<string, unknown>): never {
  throw new HttpError(errorReply(status, message, extra));
}

function queryValue(context: Context, name: string): string | undefined {
  const value = (context.request.query as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

class FakeGitHubServer implements FakeGitHub, Dispatcher<RecordedRequest> {
  readonly requests: RecordedRequest[] = [];
  readonly violations: string[] = [];
  readonly owner: string;
  readonly repo: string;
  readonly defaultBranch: string;
  readonly tokenLogin: string;
  url = '';

  private readonly server = createServer((req, res) => {
    this.handle(req, res).catch((error: unknown) => {
      this.violations.push(`fake GitHub crashed: ${String(error)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  private readonly urls: Urls;
  private readonly userEndpoint: boolean;
  private readonly createdAt = isoNow(new Date(Date.now() - 86_400_000));
  private readonly users = new Map<string, SimpleUser>();
  private nextUserId = 1001;
  private nextCommentId = 2_000_000_001;
  private nextDeploymentId = 1_500_000_001;
  private nextStatusId = 3_000_000_001;
  private readonly pulls = new Map<number, PullState>();
  private readonly issueComments = new Map<number, IssueComment[]>();
  private readonly deploymentList: DeploymentState2[] = [];
  private repositoryCache?: Repository;

  constructor(
    private readonly api: GitHubApi,
    options: FakeGitHubOptions,
  ) {
    this.owner = options.owner ?? 'Codertocat';
    this.repo = options.repo ?? 'Hello-World';
    this.defaultBranch = options.defaultBranch ?? 'master';
    this.tokenLogin = options.tokenLogin ?? 'github-actions[bot]';
    this.userEndpoint = options.userEndpoint ?? false;
    this.urls = { api: '', server: (options.serverUrl ?? 'https://github.com').replace(/\/$/, '') };
  }

  get repository(): string {
    return `${this.owner}/${this.repo}`;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    this.urls.api = this.url;
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.close((error) => (error ? reject(error) : resolve()));
      this.server.closeAllConnections();
    });
  }

  // ---- identities and objects ---------------------------------------------

  private user(login: string): SimpleUser {
    let user = this.users.get(login);
    if (!user) {
      const id = login === 'github-actions[bot]' ? GITHUB_ACTIONS_BOT_ID : this.nextUserId++;
      user = makeUser(this.urls, login, id);
      this.users.set(login, user);
    }
    return user;
  }

  private get tokenUser(): SimpleUser {
    return this.user(this.tokenLogin);
  }

  private get apiRepo(): string {
    return `${this.url}/repos/${this.owner}/${this.repo}`;
  }

  private baseRepository(): Repository {
    this.repositoryCache ??= makeRepository(this.urls, this.user(this.owner), this.repo, {
      id: 100_001,
      fork: false,
      defaultBranch: this.defaultBranch,
      createdAt: this.createdAt,
    });
    return this.repositoryCache;
  }

  private association(login: string): AuthorAssociation {
    if (login === this.owner) return 'OWNER';
    return login.endsWith('[bot]') ? 'NONE' : 'CONTRIBUTOR';
  }

  private pullRef(pull: PullState, side: 'head' | 'base'): PullRef {
    const base = this.baseRepository();
    if (side === 'base') {
      return {
        label: `${this.owner}:${pull.baseRef}`,
        ref: pull.baseRef,
        sha: fakeSha(`branch:${pull.baseRef}`),
        user: this.user(this.owner),
        repo: base,
      };
    }
    const fork = pull.headOwner !== this.owner;
    const repo = fork
      ? makeRepository(this.urls, this.user(pull.headOwner), this.repo, {
          id: 200_000 + pull.number,
          fork: true,
          defaultBranch: this.defaultBranch,
          createdAt: this.createdAt,
        })
      : base;
    return {
      label: `${pull.headOwner}:${pull.headRef}`,
      ref: pull.headRef,
      sha: pull.headSha,
      user: this.user(pull.headOwner),
      repo,
    };
  }

  private pullSimple(pull: PullState): PullRequestSimple {
    const url = `${this.apiRepo}/pulls/${pull.number}`;
    const html = `${this.urls.server}/${this.repository}/pull/${pull.number}`;
    const issue = `${this.apiRepo}/issues/${pull.number}`;
    const links = {
      self: { href: url },
      html: { href: html },
      issue: { href: issue },
      comments: { href: `${issue}/comments` },
      review_comments: { href: `${url}/comments` },
      review_comment: { href: `${this.apiRepo}/pulls/comments{/number}` },
      commits: { href: `${url}/commits` },
      statuses: { href: `${this.apiRepo}/statuses/${pull.headSha}` },
    };
    return {
      url,
      id: pull.id,
      node_id: nodeId('PR', pull.id),
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      issue_url: issue,
      commits_url: links.commits.href,
      review_comments_url: links.review_comments.href,
      review_comment_url: links.review_comment.href,
      comments_url: links.comments.href,
      statuses_url: links.statuses.href,
      number: pull.number,
      state: pull.state,
      locked: false,
      title: pull.title,
      user: this.user(pull.login),
      body: pull.body,
      labels: [],
      milestone: null,
      active_lock_reason: null,
      created_at: pull.createdAt,
      updated_at: pull.updatedAt,
      closed_at: pull.closedAt,
      merged_at: pull.mergedAt,
      merge_commit_sha: fakeSha(`merge:${pull.number}:${pull.headSha}`),
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      head: this.pullRef(pull, 'head'),
      base: this.pullRef(pull, 'base'),
      _links: links,
      author_association: this.association(pull.login),
      auto_merge: null,
      draft: pull.draft,
    };
  }

  private pullFull(pull: PullState): PullRequest {
    return {
      ...this.pullSimple(pull),
      merged: pull.merged,
      mergeable: pull.state === 'open' ? true : null,
      rebaseable: pull.state === 'open' ? true : null,
      mergeable_state: pull.state === 'open' ? 'clean' : 'unknown',
      merged_by: pull.merged ? this.user(this.owner) : null,
      comments: this.issueComments.get(pull.number)?.length ?? 0,
      review_comments: 0,
      maintainer_can_modify: false,
      commits: 1,
      additions: 1,
      deletions: 0,
      changed_files: 1,
    };
  }

  // ---- seeders and accessors ----------------------------------------------

  addPull(seed: PullSeed): PullRequest {
    if (this.pulls.has(seed.number)) throw new Error(`pull request #${seed.number} exists already`);
    const now = isoNow();
    const merged = seed.state === 'closed' && (seed.merged ?? false);
    const pull: PullState = {
      id: 1_000_000 + seed.number,
      number: seed.number,
      state: seed.state,
      headSha: seed.headSha,
      headRef: seed.headRef,
      baseRef: seed.baseRef ?? this.defaultBranch,
      title: seed.title ?? `Pull request #${seed.number}`,
      body: seed.body ?? null,
      merged,
      draft: seed.draft ?? false,
      headOwner: seed.headOwner ?? this.owner,
      login: seed.login ?? seed.headOwner ?? this.owner,
      createdAt: now,
      updatedAt: now,
      closedAt: seed.state === 'closed' ? now : null,
      mergedAt: merged ? now : null,
    };
    this.pulls.set(seed.number, pull);
    this.issueComments.set(seed.number, []);
    return this.pullFull(pull);
  }

  updatePull(number: number, patch: Partial<Omit<PullSeed, 'number'>>): PullRequest {
    const pull = this.pulls.get(number);
    if (!pull) throw new Error(`no pull request #${number}`);
    const now = isoNow();
    if (patch.state !== undefined) {
      pull.state = patch.state;
      pull.closedAt = patch.state === 'closed' ? (pull.closedAt ?? now) : null;
    }
    pull.merged = pull.state === 'closed' && (patch.merged ?? pull.merged);
    pull.mergedAt = pull.merged ? (pull.mergedAt ?? now) : null;
    if (patch.headSha !== undefined) pull.headSha = patch.headSha;
    if (patch.headRef !== undefined) pull.headRef = patch.headRef;
    if (patch.baseRef !== undefined) pull.baseRef = patch.baseRef;
    if (patch.title !== undefined) pull.title = patch.title;
    if (patch.body !== undefined) pull.body = patch.body;
    if (patch.draft !== undefined) pull.draft = patch.draft;
    if (patch.login !== undefined) pull.login = patch.login;
    if (patch.headOwner !== undefined) pull.headOwner = patch.headOwner;
    pull.updatedAt = now;
    return this.pullFull(pull);
  }

  addComment(issueNumber: number, seed: CommentSeed): IssueComment {
    const list = this.issueComments.get(issueNumber);
    if (!list) throw new Error(`no pull request #${issueNumber}: addPull first`);
    return clone(this.createComment(issueNumber, list, seed.body, seed.login, seed.createdAt));
  }

  addDeployment(seed: DeploymentSeed): Deployment {
    const sha = seed.sha ?? this.resolveRef(seed.ref);
    if (!sha) throw new Error(`cannot resolve ref ${seed.ref}: pass sha`);
    return clone(
      this.createDeployment({
        ref: seed.ref,
        sha,
        environment: seed.environment,
        task: seed.task ?? 'deploy',
        description: seed.description ?? '',
        transient: seed.transient ?? false,
        production: seed.production ?? seed.environment === 'production',
        payload: {},
        creator: this.user(seed.login ?? this.tokenLogin),
      }),
    );
  }

  addStatus(deploymentId: number, seed: StatusSeed): DeploymentStatus {
    const entry = this.deploymentList.find((d) => d.deployment.id === deploymentId);
    if (!entry) throw new Error(`no deployment ${deploymentId}`);
    return clone(
      this.createStatus(entry, {
        state: seed.state,
        log_url: seed.logUrl,
        environment_url: seed.environmentUrl,
        description: seed.description,
        environment: seed.environment,
      }),
    );
  }

  pull(number: number): PullRequest | undefined {
    const pull = this.pulls.get(number);
    return pull ? this.pullFull(pull) : undefined;
  }

  comments(issueNumber: number): IssueComment[] {
    return clone(this.issueComments.get(issueNumber) ?? []);
  }

  deployments(): Deployment[] {
    return clone(this.deploymentList.map((d) => d.deployment));
  }

  statuses(deploymentId: number): DeploymentStatus[] {
    return clone(this.deploymentList.find((d) => d.deployment.id === deploymentId)?.statuses ?? []);
  }

  // ---- state changes shared by seeders and the API ------------------------

  private createComment(
    issueNumber: number,
    list: IssueComment[],
    body: string,
    login: string,
    at = new Date(),
  ): IssueComment {
    const id = this.nextCommentId++;
    const url = `${this.apiRepo}/issues/comments/${id}`;
    const time = isoNow(at);
    const comment: IssueComment = {
      id,
      node_id: nodeId('IC', id),
      url,
      html_url: `${this.urls.server}/${this.repository}/pull/${issueNumber}#issuecomment-${id}`,
      issue_url: `${this.apiRepo}/issues/${issueNumber}`,
      body,
      user: this.user(login),
      created_at: time,
      updated_at: time,
      author_association: this.association(login),
      reactions: makeReactions(url),
      performed_via_github_app: null,
    };
    list.push(comment);
    return comment;
  }

  /** A branch, `refs/heads/<branch>` or a full SHA → the commit SHA. */
  private resolveRef(ref: string): string | undefined {
    if (/^[0-9a-f]{40}$/.test(ref)) return ref;
    const branch = ref.replace(/^refs\/heads\//, '');
    const pulls = [...this.pulls.values()].filter((p) => p.headRef === branch);
    const pull = pulls.find((p) => p.state === 'open') ?? pulls[pulls.length - 1];
    if (pull) return pull.headSha;
    if (branch === this.defaultBranch) return fakeSha(`branch:${branch}`);
    return undefined;
  }

  private createDeployment(input: {
    ref: string;
    sha: string;
    environment: string;
    task: string;
    description: string | null;
    transient: boolean;
    production: boolean;
    payload: Record<string, unknown> | string;
    creator: SimpleUser;
  }): Deployment {
    const id = this.nextDeploymentId++;
    const url = `${this.apiRepo}/deployments/${id}`;
    const now = isoNow();
    const deployment: Deployment = {
      url,
      id,
      node_id: nodeId('DE', id),
      sha: input.sha,
      ref: input.ref,
      task: input.task,
      payload: input.payload,
      original_environment: input.environment,
      environment: input.environment,
      description: input.description,
      creator: input.creator,
      created_at: now,
      updated_at: now,
      statuses_url: `${url}/statuses`,
      repository_url: this.apiRepo,
      transient_environment: input.transient,
      production_environment: input.production,
      performed_via_github_app: null,
    };
    this.deploymentList.push({ deployment, statuses: [] });
    return deployment;
  }

  private createStatus(
    entry: DeploymentState2,
    input: {
      state: DeploymentState;
      target_url?: string | undefined;
      log_url?: string | undefined;
      environment_url?: string | undefined;
      description?: string | undefined;
      environment?: string | undefined;
      auto_inactive?: boolean | undefined;
    },
  ): DeploymentStatus {
    const { deployment } = entry;
    const id = this.nextStatusId++;
    const now = isoNow();
    const previous = entry.statuses[entry.statuses.length - 1];
    const log = input.log_url ?? input.target_url ?? '';
    const environment = input.environment ?? previous?.environment ?? deployment.environment;
    const status: DeploymentStatus = {
      url: `${deployment.url}/statuses/${id}`,
      id,
      node_id: nodeId('DES', id),
      state: input.state,
      creator: this.tokenUser,
      description: input.description ?? '',
      environment,
      target_url: log,
      log_url: log,
      environment_url: input.environment_url ?? '',
      created_at: now,
      updated_at: now,
      deployment_url: deployment.url,
      repository_url: this.apiRepo,
      performed_via_github_app: null,
    };
    entry.statuses.push(status);
    deployment.updated_at = now;
    // auto_inactive (default true): "Adds a new inactive status to all prior
    // non-transient, non-production environment deployments with the same
    // repository and environment name ... only to deployments that had a
    // success state."
    if (input.state === 'success' && input.auto_inactive !== false) {
      for (const other of this.deploymentList) {
        const d = other.deployment;
        const last = other.statuses[other.statuses.length - 1];
        if (
          d.id < deployment.id &&
          d.environment === environment &&
          !d.transient_environment &&
          !d.production_environment &&
          last?.state === 'success'
        ) {
          this.createStatus(other, { state: 'inactive', auto_inactive: false });
        }
      }
    }
    return status;
  }

  // ---- HTTP ---------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const method = (req.method ?? 'GET').toUpperCase();
    const text = await readBody(req);
    const record: RecordedRequest = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: undefined,
      status: 0,
    };
    this.requests.push(record);
    const where = `${method} ${url.pathname}`;
    const reply = await this.route(req, url, method, text, record);
    record.status = reply.status;
    if (record.operationId) {
      const problems = this.api.checkResponse(record.operationId, reply.status, reply.body);
      if (problems === 'undocumented') {
        if (reply.status < 400) {
          this.violations.push(
            `response ${reply.status} to ${where} (${record.operationId}) is not documented`,
          );
        }
      } else if (problems.length > 0) {
        this.violations.push(
          `invalid response ${reply.status} to ${where} (${record.operationId}): ${problems.join('; ')}`,
        );
      }
    }
    const headers: Record<string, string> = {
      'x-github-media-type': 'github.v3; format=json',
      'x-github-api-version-selected': '2022-11-28',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(Math.max(0, 5000 - this.requests.length)),
      'x-ratelimit-used': String(this.requests.length),
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
      'x-ratelimit-resource': 'core',
      'x-github-request-id': `FAKE:${this.requests.length}`,
      ...reply.headers,
    };
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    const json = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(json)),
    });
    res.end(json);
  }

  private async route(
    req: IncomingMessage,
    url: URL,
    method: string,
    text: string,
    record: RecordedRequest,
  ): Promise<Reply> {
    const where = `${method} ${url.pathname}`;
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = value;
    }
    let body: unknown;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        this.violations.push(`request body is not JSON: ${where}`);
        return errorReply(400, 'Problems parsing JSON');
      }
    }
    record.body = body;
    const request = { method, path: url.pathname, query: url.search.slice(1), headers, body };
    try {
      return (await this.api.backend.handleRequest(request, this, url, record)) as Reply;
    } catch (error) {
      if (error instanceof HttpError) return error.reply;
      throw error;
    }
  }

  notAllowed(context: Context): Reply {
    this.violations.push(
      `operation not allowed: ${context.request.method.toUpperCase()} ${context.request.path}`,
    );
    return errorReply(404, 'Not Found');
  }

  /** Runs first for every allowed operation, valid or not: GitHub checks credentials before the request. */
  private authorize(context: Context, record: RecordedRequest): void {
    record.operationId = context.operation.operationId;
    const authorization = context.request.headers.authorization;
    if (typeof authorization !== 'string' || !/^(token|bearer)\s+\S+$/i.test(authorization)) {
      this.violations.push(
        `no Authorization header ("token X" or "Bearer X"): ${context.request.method.toUpperCase()} ${context.request.path}`,
      );
      fail(401, 'Requires authentication');
    }
  }

  validationFail(context: Context, _url: URL, record: RecordedRequest): Reply {
    this.authorize(context, record);
    const errors = context.validation.errors ?? [];
    const lines = errors.map(formatAjvError);
    this.violations.push(
      `invalid request ${context.request.method.toUpperCase()} ${context.request.path} (${context.operation.operationId}): ${lines.join('; ')}`,
    );
    return errorReply(422, 'Validation Failed', {
      errors: errors.map((error, index) => ({
        resource: context.operation.operationId ?? '',
        field: error.instancePath
          .replace(/^\/(requestBody|query|params)\/?/, '')
          .replaceAll('/', '.'),
        code: 'invalid',
        message: lines[index],
      })),
    });
  }

  operation(context: Context, url: URL, record: RecordedRequest): Reply {
    this.authorize(context, record);
    const operationId = context.operation.operationId ?? '';
    const where = `${context.request.method.toUpperCase()} ${context.request.path}`;
    const params = context.request.params as Record<string, string>;
    if (params.owner !== undefined) {
      const asked = `${params.owner}/${params.repo}`;
      if (asked.toLowerCase() !== this.repository.toLowerCase()) {
        this.violations.push(
          `unknown repository ${asked} (the fake serves ${this.repository}): ${where}`,
        );
        fail(404, 'Not Found');
      }
    }
    for (const name of Object.keys(context.request.query as object)) {
      if (!this.api.queryParameters(operationId).has(name)) {
        this.violations.push(`unknown query parameter "${name}" (${operationId}): ${where}`);
      }
    }
    const known = this.api.bodyProperties(operationId);
    const body = context.request.requestBody as Record<string, unknown> | undefined;
    if (known && body && typeof body === 'object') {
      for (const name of Object.keys(body)) {
        if (!known.has(name)) {
          this.violations.push(
            `unknown request body field "${name}" (${operationId}, GitHub ignores it): ${where}`,
          );
        }
      }
    }
    switch (operationId) {
      case 'users/get-authenticated':
        if (!this.userEndpoint) {
          return {
            status: 403,
            body: {
              message: 'Resource not accessible by integration',
              documentation_url: `${DOCS}/users/users#get-the-authenticated-user`,
              status: '403',
            },
          };
        }
        return { status: 200, body: makePublicUser(this.tokenUser, this.createdAt) };
      case 'issues/list-comments': {
        const list = this.commentsOf(params.issue_number);
        const since = queryValue(context, 'since');
        const selected = since ? list.filter((c) => c.updated_at >= isoNow(new Date(since))) : list;
        return this.paginate(context, url, selected);
      }
      case 'issues/create-comment': {
        const list = this.commentsOf(params.issue_number);
        const text = String((body as { body: string }).body);
        this.checkCommentLength(text, where);
        const comment = this.createComment(
          Number(params.issue_number),
          list,
          text,
          this.tokenLogin,
        );
        return { status: 201, body: comment, headers: { location: comment.url } };
      }
      case 'issues/update-comment': {
        const id = Number(params.comment_id);
        const comment = [...this.issueComments.values()].flat().find((c) => c.id === id);
        if (!comment) fail(404, 'Not Found');
        const text = String((body as { body: string }).body);
        this.checkCommentLength(text, where);
        if (comment.user.login !== this.tokenLogin) {
          this.violations.push(
            `edited comment ${id} by ${comment.user.login}, not by the token's identity ${this.tokenLogin}: ${where}`,
          );
        }
        comment.body = text;
        comment.updated_at = isoNow();
        return { status: 200, body: comment };
      }
      case 'pulls/get': {
        const pull = this.pulls.get(Number(params.pull_number));
        if (!pull) fail(404, 'Not Found');
        return { status: 200, body: this.pullFull(pull) };
      }
      case 'pulls/list':
        return this.paginate(context, url, this.listPulls(context));
      case 'repos/create-deployment':
        return this.postDeployment(body as Record<string, unknown>, where);
      case 'repos/list-deployments': {
        const filters = ['sha', 'ref', 'task', 'environment'] as const;
        const selected = this.deploymentList
          .map((d) => d.deployment)
          .filter((d) =>
            filters.every((name) => {
              const wanted = queryValue(context, name);
              return wanted === undefined || wanted === 'none' || d[name] === wanted;
            }),
          )
          .reverse();
        return this.paginate(context, url, selected);
      }
      case 'repos/create-deployment-status': {
        const entry = this.deploymentEntry(params.deployment_id);
        const input = body as Parameters<FakeGitHubServer['createStatus']>[1];
        if ((input.description ?? '').length > MAX_STATUS_DESCRIPTION) {
          this.violations.push(
            `deployment status description longer than ${MAX_STATUS_DESCRIPTION} characters: ${where}`,
          );
          fail(422, 'Validation Failed', {
            errors: [
              {
                resource: 'DeploymentStatus',
                code: 'custom',
                field: 'description',
                message: `description is too long (maximum is ${MAX_STATUS_DESCRIPTION} characters)`,
              },
            ],
          });
        }
        return { status: 201, body: this.createStatus(entry, input) };
      }
      case 'repos/list-deployment-statuses': {
        const entry = this.deploymentEntry(params.deployment_id);
        return this.paginate(context, url, [...entry.statuses].reverse());
      }
      default:
        fail(501, `fake GitHub has no handler for ${operationId}`);
    }
  }

  private commentsOf(issueNumber: string | undefined): IssueComment[] {
    const list = this.issueComments.get(Number(issueNumber));
    if (!list) fail(404, 'Not Found');
    return list;
  }

  private deploymentEntry(id: string | undefined): DeploymentState2 {
    const entry = this.deploymentList.find((d) => d.deployment.id === Number(id));
    if (!entry) fail(404, 'Not Found');
    return entry;
  }

  private checkCommentLength(text: string, where: string): void {
    if (text.length <= MAX_COMMENT) return;
    this.violations.push(`comment body longer than ${MAX_COMMENT} characters: ${where}`);
    fail(422, 'Validation Failed', {
      errors: [
        {
          resource: 'IssueComment',
          code: 'custom',
          field: 'body',
          message: `Body is too long (maximum is ${MAX_COMMENT} characters)`,
        },
      ],
    });
  }

  private listPulls(context: Context): PullRequestSimple[] {
    const state = queryValue(context, 'state') ?? 'open';
    const head = queryValue(context, 'head');
    const base = queryValue(context, 'base');
    const sort = queryValue(context, 'sort') ?? 'created';
    const direction = queryValue(context, 'direction') ?? (sort === 'created' ? 'desc' : 'asc');
    const key = sort === 'updated' ? 'updatedAt' : 'createdAt';
    const sign = direction === 'asc' ? 1 : -1;
    return [...this.pulls.values()]
      .filter((p) => state === 'all' || p.state === state)
      .filter((p) => {
        if (head === undefined) return true;
        const [owner, ref] = head.includes(':') ? head.split(':', 2) : [undefined, head];
        return p.headRef === ref && (owner === undefined || owner === p.headOwner);
      })
      .filter((p) => base === undefined || p.baseRef === base)
      .sort((a, b) => sign * (a[key].localeCompare(b[key]) || a.number - b.number))
      .map((p) => this.pullSimple(p));
  }

  private postDeployment(body: Record<string, unknown>, where: string): Reply {
    const ref = String(body.ref);
    const contexts = body.required_contexts;
    if (!Array.isArray(contexts) || contexts.length > 0) {
      this.violations.push(
        `deployment refused: required_contexts must be [] (got ${JSON.stringify(contexts)}); GitHub answers 409 while the ref's checks are pending: ${where}`,
      );
      return errorReply(409, `Conflict: Commit status checks failed for ${ref}.`, {
        errors: [
          {
            contexts: [{ context: 'toss', state: 'pending' }],
            resource: 'Deployment',
            field: 'required_contexts',
          },
        ],
      });
    }
    if (body.auto_merge !== false) {
      this.violations.push(
        `deployment refused: auto_merge must be false (got ${JSON.stringify(body.auto_merge)}); GitHub tries to merge ${this.defaultBranch} into the ref: ${where}`,
      );
      return errorReply(409, `Conflict merging ${this.defaultBranch} into ${ref}.`);
    }
    const sha = this.resolveRef(ref);
    if (!sha) return errorReply(422, `No ref found for: ${ref}`);
    const environment = typeof body.environment === 'string' ? body.environment : 'production';
    const payload = body.payload;
    const deployment = this.createDeployment({
      ref,
      sha,
      environment,
      task: typeof body.task === 'string' ? body.task : 'deploy',
      description:
        body.description === null
          ? null
          : typeof body.description === 'string'
            ? body.description
            : '',
      transient: body.transient_environment === true,
      production:
        typeof body.production_environment === 'boolean'
          ? body.production_environment
          : environment === 'production',
      payload:
        typeof payload === 'string' || (typeof payload === 'object' && payload !== null)
          ? (payload as Record<string, unknown> | string)
          : {},
      creator: this.tokenUser,
    });
    return { status: 201, body: deployment };
  }

  private paginate(context: Context, url: URL, items: unknown[]): Reply {
    const rawPer = Number(queryValue(context, 'per_page') ?? 30);
    const perPage = rawPer < 1 ? 30 : Math.min(100, rawPer);
    const page = Math.max(1, Number(queryValue(context, 'page') ?? 1));
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (n: number, rel: string) => {
      const target = new URL(url.pathname, this.url);
      for (const [name, value] of url.searchParams) target.searchParams.set(name, value);
      target.searchParams.set('page', String(n));
      return `<${target.href}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page > 1) links.push(link(page - 1, 'prev'));
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
    if (page > 1) links.push(link(1, 'first'));
    return {
      status: 200,
      body: items.slice((page - 1) * perPage, page * perPage),
      headers: links.length > 0 ? { link: links.join(', ') } : {},
    };
  }
}

/** Starts a fake GitHub on 127.0.0.1 (a free port). The first call in a process extracts GitHub's description (~0.5-1 s). */
export async function startFakeGitHub(options: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const api = await loadGitHubApi();
  const fake = new FakeGitHubServer(api, options);
  await fake.listen();
  return fake;
}

/** Timings of the shared extract and backend set-up (for reports). */
export async function fakeGitHubStats(): Promise<GitHubApi['stats']> {
  return (await loadGitHubApi()).stats;
}
