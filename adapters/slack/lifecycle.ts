import type { EnginePort } from '../../src/engine/port.js';
import type { Logger } from '../../src/log.js';
import type { SealedInstallations } from './installations.js';
import type { Workspaces } from './workspaces.js';

/** The envelope fields of app_uninstalled and tokens_revoked (docs.slack.dev/reference/events). */
interface LifecycleBody {
  team_id?: string;
  enterprise_id?: string;
  is_enterprise_install?: boolean;
  authorizations?: Array<{ team_id?: string; enterprise_id?: string; is_enterprise_install?: boolean }>;
  event?: { type?: string; tokens?: { oauth?: string[]; bot?: string[] } };
}

/**
 * The app left a workspace: `app_uninstalled`, or `tokens_revoked` naming bot tokens. Handled
 * before Bolt (Bolt would look up the installation to authorize the event, and it may be gone):
 * the installation is deleted, this instance forgets the workspace, and the engine forgets every
 * conversation started there (records, queued turns, files the backend holds). An org-wide
 * install's removal does so for each workspace it was seen answering in. Returns false for any
 * other event.
 */
export async function forgetUninstalled(body: Record<string, unknown>, d: { installations?: SealedInstallations; workspaces: Workspaces; engine: EnginePort; log: Logger }): Promise<boolean> {
  const b = body as LifecycleBody;
  const type = b.event?.type;
  if (type !== 'app_uninstalled' && type !== 'tokens_revoked') return false;
  // only the bot's tokens matter: Threadline asks for no user scopes, so a user token revoked changes nothing
  if (type === 'tokens_revoked' && !b.event?.tokens?.bot?.length) return true;
  const auth = b.authorizations?.[0];
  const team = b.team_id ?? auth?.team_id;
  const org = b.enterprise_id ?? auth?.enterprise_id;
  const orgWide = !!(b.is_enterprise_install ?? auth?.is_enterprise_install);
  if (!d.installations) {
    // SLACK_BOT_TOKEN: the token no longer works; there is no installation to delete, only an operator to tell
    d.log.error({ team, event: type }, 'the Slack app was removed from its workspace: SLACK_BOT_TOKEN no longer works');
    return true;
  }
  const teams = orgWide && org ? await d.installations.teamsOf(org) : team ? [team] : [];
  await d.installations.deleteInstallation({ teamId: orgWide ? undefined : team, enterpriseId: org, isEnterpriseInstall: orgWide });
  let conversations = 0;
  for (const t of teams) {
    d.workspaces.forget(t);
    conversations += await d.engine.forgetSpace('slack', t);
  }
  d.log.info({ team, enterprise: org, orgWide, event: type, workspaces: teams.length, conversations }, 'slack app removed: installation and conversations deleted');
  return true;
}
