import { getOctokit } from '@actions/github';

type Octokit = ReturnType<typeof getOctokit>;

/** The repository the run belongs to. */
export interface Repo {
  owner: string;
  repo: string;
}

// A GITHUB_TOKEN cannot read /user (403); its comments are by this bot.
const ACTIONS_BOT = 'github-actions[bot]';

/** The few GitHub calls the action makes, behind one small interface (tests swap in a fake server). */
export class GitHubApi {
  private identity: string | undefined;

  constructor(
    private readonly octokit: Octokit,
    readonly repo: Repo,
  ) {}

  static create(token: string, repo: Repo, baseUrl?: string): GitHubApi {
    return new GitHubApi(getOctokit(token, baseUrl ? { baseUrl } : {}), repo);
  }

  /** The login the token acts as: the comment author to look for. */
  async login(): Promise<string> {
    if (this.identity !== undefined) return this.identity;
    try {
      const { data } = await this.octokit.rest.users.getAuthenticated();
      this.identity = data.login;
    } catch (error) {
      if ((error as { status?: number }).status !== 403) throw error;
      this.identity = ACTIONS_BOT;
    }
    return this.identity;
  }

  /** Creates or edits the one comment carrying `marker` by our own identity (all pages searched). */
  async upsertComment(issue: number, marker: string, body: string): Promise<number> {
    const me = await this.login();
    const comments = await this.octokit.paginate(this.octokit.rest.issues.listComments, {
      ...this.repo,
      issue_number: issue,
      per_page: 100,
    });
    const mine = comments.find((c) => c.user?.login === me && c.body?.includes(marker));
    if (mine) {
      await this.octokit.rest.issues.updateComment({ ...this.repo, comment_id: mine.id, body });
      return mine.id;
    }
    const { data } = await this.octokit.rest.issues.createComment({
      ...this.repo,
      issue_number: issue,
      body,
    });
    return data.id;
  }

  async createDeployment(params: {
    ref: string;
    environment: string;
    production: boolean;
    description: string;
  }): Promise<number> {
    const { data, status } = await this.octokit.rest.repos.createDeployment({
      ...this.repo,
      ref: params.ref,
      environment: params.environment,
      transient_environment: !params.production,
      production_environment: params.production,
      // Otherwise GitHub tries to merge the default branch in and waits for pending checks.
      auto_merge: false,
      required_contexts: [],
      description: params.description,
    });
    if (status !== 201 || !('id' in data)) {
      throw new Error(`GitHub did not create the deployment: ${JSON.stringify(data)}`);
    }
    return data.id;
  }

  async setDeploymentStatus(
    id: number,
    state: 'in_progress' | 'success' | 'failure' | 'error' | 'inactive',
    extra: {
      logUrl?: string | undefined;
      environmentUrl?: string | undefined;
      description?: string;
    },
  ): Promise<void> {
    await this.octokit.rest.repos.createDeploymentStatus({
      ...this.repo,
      deployment_id: id,
      state,
      ...(extra.logUrl ? { log_url: extra.logUrl } : {}),
      ...(extra.environmentUrl ? { environment_url: extra.environmentUrl } : {}),
      ...(extra.description ? { description: extra.description.slice(0, 140) } : {}),
      // Older deployments of the environment become inactive when this one succeeds.
      ...(state === 'success' ? { auto_inactive: true } : {}),
    });
  }

  /** Marks every deployment of an environment inactive (its preview was removed). */
  async deactivateEnvironment(environment: string, logUrl?: string): Promise<number> {
    const deployments = await this.octokit.paginate(this.octokit.rest.repos.listDeployments, {
      ...this.repo,
      environment,
      per_page: 100,
    });
    for (const deployment of deployments) {
      await this.setDeploymentStatus(deployment.id, 'inactive', { logUrl });
    }
    return deployments.length;
  }

  /** Whether a pull request is closed (merged or not); undefined when GitHub does not know it. */
  async isPullClosed(pr: number): Promise<boolean | undefined> {
    try {
      const { data } = await this.octokit.rest.pulls.get({ ...this.repo, pull_number: pr });
      return data.state === 'closed';
    } catch (error) {
      if ((error as { status?: number }).status === 404) return undefined;
      throw error;
    }
  }
}
