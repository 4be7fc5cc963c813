/**
 * Builders for the JSON objects the fake GitHub serves. Each one fills every
 * field GitHub's description marks required (and the common optional ones
 * real GitHub sends), so that the fake's own responses pass the response
 * schema check. API URLs point at the fake; HTML URLs at `serverUrl`.
 */
import { createHash } from 'node:crypto';

export interface Urls {
  /** The fake's base URL, e.g. `http://127.0.0.1:1234` (no trailing slash). */
  api: string;
  /** Where HTML links point, e.g. `https://github.com`. */
  server: string;
}

export interface SimpleUser {
  login: string;
  id: number;
  node_id: string;
  avatar_url: string;
  gravatar_id: string;
  url: string;
  html_url: string;
  followers_url: string;
  following_url: string;
  gists_url: string;
  starred_url: string;
  subscriptions_url: string;
  organizations_url: string;
  repos_url: string;
  events_url: string;
  received_events_url: string;
  type: 'User' | 'Bot' | 'Organization';
  user_view_type: 'public';
  site_admin: boolean;
}

export interface ReactionRollup {
  url: string;
  total_count: number;
  '+1': number;
  '-1': number;
  laugh: number;
  confused: number;
  heart: number;
  hooray: number;
  eyes: number;
  rocket: number;
}

export type AuthorAssociation =
  | 'COLLABORATOR'
  | 'CONTRIBUTOR'
  | 'FIRST_TIMER'
  | 'FIRST_TIME_CONTRIBUTOR'
  | 'MANNEQUIN'
  | 'MEMBER'
  | 'NONE'
  | 'OWNER';

export interface IssueComment {
  id: number;
  node_id: string;
  url: string;
  html_url: string;
  issue_url: string;
  body: string;
  user: SimpleUser;
  created_at: string;
  updated_at: string;
  author_association: AuthorAssociation;
  reactions: ReactionRollup;
  performed_via_github_app: null;
}

/** GitHub's `repository` schema: a few fields typed, the other ~70 URLs and flags untyped. */
export interface Repository {
  id: number;
  node_id: string;
  name: string;
  full_name: string;
  owner: SimpleUser;
  fork: boolean;
  default_branch: string;
  html_url: string;
  url: string;
  [field: string]: unknown;
}

export interface PullRef {
  label: string;
  ref: string;
  sha: string;
  user: SimpleUser;
  repo: Repository;
}

/** GitHub's `pull-request-simple` (what `GET /pulls` lists). */
export interface PullRequestSimple {
  url: string;
  id: number;
  node_id: string;
  html_url: string;
  number: number;
  state: 'open' | 'closed';
  locked: boolean;
  title: string;
  user: SimpleUser;
  body: string | null;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  merged_at: string | null;
  merge_commit_sha: string | null;
  draft: boolean;
  head: PullRef;
  base: PullRef;
  author_association: AuthorAssociation;
  [field: string]: unknown;
}

/** GitHub's `pull-request` (what `GET /pulls/{n}` answers). */
export interface PullRequest extends PullRequestSimple {
  merged: boolean;
  mergeable: boolean | null;
  mergeable_state: string;
  merged_by: SimpleUser | null;
  comments: number;
  commits: number;
}

export interface Deployment {
  url: string;
  id: number;
  node_id: string;
  sha: string;
  ref: string;
  task: string;
  payload: Record<string, unknown> | string;
  original_environment: string;
  environment: string;
  description: string | null;
  creator: SimpleUser;
  created_at: string;
  updated_at: string;
  statuses_url: string;
  repository_url: string;
  transient_environment: boolean;
  production_environment: boolean;
  performed_via_github_app: null;
}

export type DeploymentState =
  | 'error'
  | 'failure'
  | 'inactive'
  | 'pending'
  | 'success'
  | 'queued'
  | 'in_progress';

export interface DeploymentStatus {
  url: string;
  id: number;
  node_id: string;
  state: DeploymentState;
  creator: SimpleUser;
  description: string;
  environment: string;
  target_url: string;
  log_url: string;
  environment_url: string;
  created_at: string;
  updated_at: string;
  deployment_url: string;
  repository_url: string;
  performed_via_github_app: null;
}

/** GitHub's timestamps: ISO 8601, seconds precision, `Z`. */
export function isoNow(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A GraphQL-style node id, e.g. `IC_kwDOMTAwMQ`. */
export function nodeId(prefix: string, id: number): string {
  return `${prefix}_kwDO${Buffer.from(String(id)).toString('base64url')}`;
}

/** A deterministic, realistic 40-hex commit SHA derived from `seed`. */
export function fakeSha(seed: string): string {
  return createHash('sha1').update(seed).digest('hex');
}

/** The identity behind a workflow's `GITHUB_TOKEN`. */
export const GITHUB_ACTIONS_BOT_ID = 41898282;

export function makeUser(urls: Urls, login: string, id: number): SimpleUser {
  const bot = login.endsWith('[bot]');
  const api = `${urls.api}/users/${encodeURIComponent(login)}`;
  return {
    login,
    id,
    node_id: bot ? nodeId('BOT', id) : nodeId('U', id),
    avatar_url:
      login === 'github-actions[bot]'
        ? 'https://avatars.githubusercontent.com/in/15368?v=4'
        : `https://avatars.githubusercontent.com/u/${id}?v=4`,
    gravatar_id: '',
    url: api,
    html_url: bot
      ? `${urls.server}/apps/${login.slice(0, -'[bot]'.length)}`
      : `${urls.server}/${login}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: bot ? 'Bot' : 'User',
    user_view_type: 'public',
    site_admin: false,
  };
}

/** GitHub's `public-user`, as `GET /user` answers for a token that may read it. */
export function makePublicUser(user: SimpleUser, createdAt: string): Record<string, unknown> {
  return {
    ...user,
    name: null,
    company: null,
    blog: '',
    location: null,
    email: null,
    hireable: null,
    bio: null,
    twitter_username: null,
    public_repos: 1,
    public_gists: 0,
    followers: 0,
    following: 0,
    created_at: createdAt,
    updated_at: createdAt,
  };
}

export function makeRepository(
  urls: Urls,
  owner: SimpleUser,
  name: string,
  options: { id: number; fork: boolean; defaultBranch: string; createdAt: string },
): Repository {
  const full = `${owner.login}/${name}`;
  const api = `${urls.api}/repos/${full}`;
  const html = `${urls.server}/${full}`;
  const host = new URL(urls.server).host;
  return {
    id: options.id,
    node_id: nodeId('R', options.id),
    name,
    full_name: full,
    private: false,
    owner,
    html_url: html,
    description: null,
    fork: options.fork,
    url: api,
    archive_url: `${api}/{archive_format}{/ref}`,
    assignees_url: `${api}/assignees{/user}`,
    blobs_url: `${api}/git/blobs{/sha}`,
    branches_url: `${api}/branches{/branch}`,
    collaborators_url: `${api}/collaborators{/collaborator}`,
    comments_url: `${api}/comments{/number}`,
    commits_url: `${api}/commits{/sha}`,
    compare_url: `${api}/compare/{base}...{head}`,
    contents_url: `${api}/contents/{+path}`,
    contributors_url: `${api}/contributors`,
    deployments_url: `${api}/deployments`,
    downloads_url: `${api}/downloads`,
    events_url: `${api}/events`,
    forks_url: `${api}/forks`,
    git_commits_url: `${api}/git/commits{/sha}`,
    git_refs_url: `${api}/git/refs{/sha}`,
    git_tags_url: `${api}/git/tags{/sha}`,
    git_url: `git://${host}/${full}.git`,
    issue_comment_url: `${api}/issues/comments{/number}`,
    issue_events_url: `${api}/issues/events{/number}`,
    issues_url: `${api}/issues{/number}`,
    keys_url: `${api}/keys{/key_id}`,
    labels_url: `${api}/labels{/name}`,
    languages_url: `${api}/languages`,
    merges_url: `${api}/merges`,
    milestones_url: `${api}/milestones{/number}`,
    notifications_url: `${api}/notifications{?since,all,participating}`,
    pulls_url: `${api}/pulls{/number}`,
    releases_url: `${api}/releases{/id}`,
    ssh_url: `git@${host}:${full}.git`,
    stargazers_url: `${api}/stargazers`,
    statuses_url: `${api}/statuses/{sha}`,
    subscribers_url: `${api}/subscribers`,
    subscription_url: `${api}/subscription`,
    tags_url: `${api}/tags`,
    teams_url: `${api}/teams`,
    trees_url: `${api}/git/trees{/sha}`,
    clone_url: `${html}.git`,
    mirror_url: null,
    hooks_url: `${api}/hooks`,
    svn_url: html,
    homepage: null,
    language: 'TypeScript',
    forks_count: 0,
    forks: 0,
    stargazers_count: 0,
    watchers_count: 0,
    watchers: 0,
    size: 128,
    default_branch: options.defaultBranch,
    open_issues_count: 0,
    open_issues: 0,
    is_template: false,
    topics: [],
    has_issues: true,
    has_projects: true,
    has_wiki: true,
    has_pages: false,
    has_downloads: true,
    has_discussions: false,
    archived: false,
    disabled: false,
    visibility: 'public',
    pushed_at: options.createdAt,
    created_at: options.createdAt,
    updated_at: options.createdAt,
    allow_forking: true,
    web_commit_signoff_required: false,
    license: null,
  };
}

export function makeReactions(url: string): ReactionRollup {
  return {
    url: `${url}/reactions`,
    total_count: 0,
    '+1': 0,
    '-1': 0,
    laugh: 0,
    confused: 0,
    heart: 0,
    hooray: 0,
    eyes: 0,
    rocket: 0,
  };
}
