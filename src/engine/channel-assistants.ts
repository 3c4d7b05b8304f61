import type { AssistantRoute } from '../assistants-file.js';
import type { ModelBackend } from '../backends/backend.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import { routeAssistant } from './assistant-routes.js';
import { channelKeyOf } from './conversation-key.js';
import type { Budgets } from './budgets.js';
import { describeTool, helpText } from './commands.js';
import type { Conversations } from './conversations.js';
import type { Inbound } from './types.js';
import { tellPerson } from './sink-helpers.js';

/**
 * Which named assistant answers in a channel (ASSISTANTS_FILE's routes, or the channel's own
 * choice in the store), and the chat commands about it: `assistant …` and `usage`.
 */
export class ChannelAssistants {
  constructor(
    private readonly deps: {
      store: Store;
      backend: ModelBackend;
      log: Logger;
      conversations: () => Conversations;
      budgets: Budgets;
      routes: AssistantRoute[];
      adminUserIds: string[];
      /** Whether a key is a DM, asked of the platform that wrote it. */
      isDirect: (key: string) => boolean;
    },
  ) {}

  /**
   * The named assistant a new conversation at `key` gets: the channel's choice (`assistant use`),
   * else the first route of ASSISTANTS_FILE that matches, else `default`.
   */
  async choose(key: string): Promise<string> {
    const names = (this.deps.backend.assistants?.() ?? []).map((a) => a.name);
    const chosen = await this.deps.store.get<unknown>(`assistant-choice:${channelKeyOf(key)}`);
    if (typeof chosen === 'string' && names.includes(chosen)) return chosen;
    return routeAssistant(this.deps.routes, key, this.deps.isDirect);
  }

  /** The assistant a conversation has, or a new one at `key` would get. */
  async assistantFor(key: string): Promise<string> {
    if (!this.deps.backend.assistants?.().some((a) => a.name !== 'default')) return 'default';
    const rec = await this.deps.conversations().get(key);
    return rec ? (this.deps.backend.assistantOf?.(rec.state) ?? 'default') : this.choose(key);
  }

  /** `help`: the commands, and the tools of the assistant this conversation has (or a new one here would get). */
  async help(m: Inbound, o: { localTools: string[]; commandPrefix: string; meetings: boolean }): Promise<void> {
    const name = await this.assistantFor(m.key);
    const named = this.deps.backend.assistants?.() ?? [];
    await m.sink.notice(helpText({ assistantTools: named.find((a) => a.name === name)?.toolTypes ?? this.deps.backend.toolTypes, ...o, assistants: named.length > 1 }));
  }

  /** `usage`: today's tokens for the person and the channel, against the budgets. */
  async usage(m: Inbound): Promise<void> {
    const who = `${m.target.platform}:${m.author.id}`;
    const used = await this.deps.budgets.used(who, m.key);
    const limits = this.deps.budgets.limits(await this.assistantFor(m.key));
    const of = (n?: number) => (n ? ` of ${n.toLocaleString('en-US')}` : '');
    return m.sink.notice(
      `Today (UTC) you have used ${used.user.toLocaleString('en-US')} tokens${of(limits.perUserDay)}; this channel ${used.channel.toLocaleString('en-US')}${of(limits.perChannelDay)}.`,
    );
  }

  /** `assistant`, `assistant list`, `assistant use <name>`. */
  async command(m: Inbound, action: 'show' | 'list' | 'use', choice?: string): Promise<void> {
    const named = this.deps.backend.assistants?.() ?? [{ name: 'default', toolTypes: this.deps.backend.toolTypes }];
    const describe = (a: { name: string; toolTypes: string[] }) => `**${a.name}**${a.toolTypes.length ? `: ${a.toolTypes.map(describeTool).join(', ')}` : ''}`;
    if (action === 'list') return m.sink.notice(`Assistants here:\n${named.map((a) => `• ${describe(a)}`).join('\n')}`);
    const current = await this.choose(m.key);
    if (action === 'show') {
      const rec = await this.deps.conversations().get(m.key);
      const mine = rec ? (this.deps.backend.assistantOf?.(rec.state) ?? 'default') : current;
      const line = `This channel uses ${describe(named.find((a) => a.name === current) ?? named[0])}.`;
      return m.sink.notice(mine !== current ? `${line} This conversation keeps **${mine}**, the assistant it started with, until \`reset\`.` : line);
    }
    const admins = new Set(this.deps.adminUserIds);
    if (!(m.author.mayConfigure ?? m.author.isAdmin) && !admins.has(m.author.id) && !admins.has(`${m.target.platform}:${m.author.id}`)) {
      return tellPerson(m.sink, 'Only a workspace admin (Slack) or someone who may manage channels (Discord) can switch the assistant for this channel.');
    }
    if (!named.some((a) => a.name === choice)) return m.sink.notice(`There is no assistant called ${choice}. Say \`assistant list\` to see them.`);
    const where = `assistant-choice:${channelKeyOf(m.key)}`;
    // `default` clears the channel's choice: ASSISTANTS_FILE's routes apply again
    if (choice === 'default') await this.deps.store.delete(where);
    else await this.deps.store.set(where, choice);
    this.deps.log.info({ channel: channelKeyOf(m.key), assistant: choice, by: m.author.id }, 'channel assistant switched');
    return m.sink.notice(`From the next conversation, this channel uses **${await this.choose(m.key)}**. Conversations already going keep theirs until \`reset\`.`);
  }
}
