import type { Installation, InstallationQuery, InstallationStore } from '@slack/oauth';
import type { Logger } from '../../src/log.js';
import type { Store } from '../../src/store/index.js';
import { seal, unseal, type Sealed } from '../../src/store/sealed.js';

/** How long this instance trusts an installation it read (an uninstall on another instance is seen within this). */
const CACHE_MS = 30_000;

/** An installation's store key: an org-wide install (Enterprise Grid) by its enterprise, a workspace install by its team. */
export function installationKey(q: { teamId?: string; enterpriseId?: string; isEnterpriseInstall?: boolean }): string {
  if (q.isEnterpriseInstall && q.enterpriseId) return `slack-install:org:${q.enterpriseId}`;
  if (!q.teamId) throw new Error('an installation query names neither a team nor an org-wide install');
  return `slack-install:team:${q.teamId}`;
}

/** The link from a workspace to the org-wide install that covers it (learned from its events), and the other way. */
const orgLinkKey = (team: string) => `slack-install:org-of:${team}`;
const orgTeamsKey = (org: string) => `slack-install:teams-of:${org}`;

/**
 * @slack/oauth's InstallationStore on Threadline's store (Redis in production): one record per
 * workspace or per org-wide install, sealed with AES-256-GCM under TOKEN_ENCRYPTION_KEY, the store
 * key bound into the seal. The raw value holds no token, no team name, nothing in clear.
 */
export class SealedInstallations implements InstallationStore {
  private readonly cache = new Map<string, { installation: Installation; until: number }>();
  /** Workspaces whose link to their org-wide install this instance has written. */
  private readonly linked = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly key: Buffer,
    private readonly log: Logger,
  ) {}

  async storeInstallation(installation: Installation): Promise<void> {
    const id = installationKey({ teamId: installation.team?.id, enterpriseId: installation.enterprise?.id, isEnterpriseInstall: installation.isEnterpriseInstall });
    await this.store.set<Sealed>(id, seal(this.key, installation, id));
    this.cache.delete(id);
    this.log.info({ team: installation.team?.id, enterprise: installation.enterprise?.id, orgWide: !!installation.isEnterpriseInstall }, 'slack app installed');
  }

  async fetchInstallation(query: InstallationQuery<boolean>): Promise<Installation> {
    const found = await this.find(query);
    if (!found) throw new Error(`no installation for ${query.isEnterpriseInstall ? `org ${query.enterpriseId}` : `team ${query.teamId}`}`);
    if (query.isEnterpriseInstall && query.teamId) await this.linkOrg(query.teamId, query.enterpriseId!);
    return found;
  }

  async deleteInstallation(query: InstallationQuery<boolean>): Promise<void> {
    const id = installationKey(query);
    this.cache.delete(id);
    await this.store.delete(id);
    if (query.teamId) await this.store.delete(orgLinkKey(query.teamId));
    if (query.isEnterpriseInstall && query.enterpriseId) {
      for (const team of await this.teamsOf(query.enterpriseId)) await this.store.delete(orgLinkKey(team));
      await this.store.delete(orgTeamsKey(query.enterpriseId));
    }
    for (const l of this.linked) if (l.endsWith(`/${query.teamId}`) || l.startsWith(`${query.enterpriseId}/`)) this.linked.delete(l);
  }

  /** The installation, or undefined when there is none (or it no longer opens: logged). */
  async find(query: { teamId?: string; enterpriseId?: string; isEnterpriseInstall?: boolean }): Promise<Installation | undefined> {
    const id = installationKey(query);
    const hit = this.cache.get(id);
    if (hit && hit.until > Date.now()) return hit.installation;
    const sealed = await this.store.get<Sealed>(id);
    if (!sealed) return undefined;
    let installation: Installation;
    try {
      installation = unseal<Installation>(this.key, sealed, id);
    } catch (err) {
      this.log.error({ installation: id, err: { message: (err as Error).message } }, 'a stored Slack installation does not open; the workspace must install the app again');
      return undefined;
    }
    this.cache.set(id, { installation, until: Date.now() + CACHE_MS });
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    return installation;
  }

  /** The workspaces an org-wide install was seen answering in. */
  teamsOf(org: string): Promise<string[]> {
    return this.store.setMembers(orgTeamsKey(org));
  }

  /** The installation answering in a workspace: its own, or the org-wide one its events came through. */
  async forTeam(team: string, orgWide?: string): Promise<Installation | undefined> {
    if (orgWide) {
      // the event says it came through the org's install: that one answers (and the workspace is linked to it)
      const found = await this.find({ enterpriseId: orgWide, isEnterpriseInstall: true });
      if (found) await this.linkOrg(team, orgWide);
      return found;
    }
    const own = await this.find({ teamId: team });
    if (own) return own;
    const org = await this.store.get<string>(orgLinkKey(team));
    return org ? this.find({ enterpriseId: org, isEnterpriseInstall: true }) : undefined;
  }

  private async linkOrg(team: string, org: string): Promise<void> {
    if (this.linked.has(`${org}/${team}`)) return;
    await this.store.set(orgLinkKey(team), org);
    await this.store.setAdd(orgTeamsKey(org), team);
    this.linked.add(`${org}/${team}`);
  }
}
