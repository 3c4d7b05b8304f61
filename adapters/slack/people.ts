import type { WebClient } from '@slack/web-api';
import type { Author } from '../../src/engine/types.js';
import type { Logger } from '../../src/log.js';

const TTL = 10 * 60_000;

/** Display names (and admin flags) of Slack users, from users.info, cached for ten minutes. */
export class People {
  private readonly cache = new Map<string, { author: Author; at: number }>();

  constructor(
    /** The Web API client of a workspace (each installation has its own token). */
    private readonly client: (team: string) => WebClient,
    private readonly log: Logger,
  ) {}

  async get(userId: string, team: string): Promise<Author> {
    const key = `${team}:${userId}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < TTL) return hit.author;
    let author: Author = { id: userId, name: userId };
    try {
      const res = (await this.client(team).users.info({ user: userId })) as {
        user?: { name?: string; real_name?: string; is_admin?: boolean; is_owner?: boolean; profile?: { display_name?: string; real_name?: string } };
      };
      const u = res.user;
      const name = u?.profile?.display_name || u?.profile?.real_name || u?.real_name || u?.name || userId;
      author = { id: userId, name, isAdmin: !!(u?.is_admin || u?.is_owner), mayConfigure: !!(u?.is_admin || u?.is_owner) };
    } catch (err) {
      this.log.debug({ user: userId, err: { message: (err as Error).message } }, 'users.info failed; using the id as name');
    }
    this.cache.set(key, { author, at: Date.now() });
    if (this.cache.size > 5_000) this.cache.delete(this.cache.keys().next().value!);
    return author;
  }
}
