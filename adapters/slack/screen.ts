import type { EnginePort } from '../../src/engine/port.js';
import type { Logger } from '../../src/log.js';
import type { Screen } from './event-handler.js';
import type { SlackMessageEvent, SlackRoute } from './inbound.js';

/**
 * Message events are routed here, before Bolt runs: most channel traffic is chatter the bot has
 * no business with (no mention, no conversation, no meeting), the bot's own messages, edits and
 * joins, and every mention arrives twice (`message` and `app_mention`) and is sometimes retried.
 * Those are dropped after one lookup instead of going through Bolt's whole pipeline; messages
 * for the bot are claimed (the engine's dedupe) and passed on with their route.
 */
export function messageScreen(d: {
  engine: EnginePort;
  log: Logger;
  allowed: (team: string, channel: string) => boolean;
  routeOf: (event: SlackMessageEvent, team: string, body: Record<string, unknown>) => Promise<SlackRoute | { ignore: string }>;
  teamOf: (body: unknown, e?: Partial<SlackMessageEvent>) => string;
}): Screen {
  return async (body, replay = false) => {
    const e = body.event as Partial<SlackMessageEvent> | undefined;
    if (!e || (e.type !== 'message' && e.type !== 'app_mention') || !e.ts || !e.channel) return { drop: false };
    try {
      const team = d.teamOf(body, e);
      if (!d.allowed(team, e.channel)) return { drop: true };
      const route = await d.routeOf(e as SlackMessageEvent, team, body);
      if ('ignore' in route) return { drop: true };
      if (route.kind === 'ambient') return (await d.engine.wantsAmbient(route.channelKey)) ? { drop: false, context: { threadlineRoute: route } } : { drop: true };
      // a replay: the dead process may have claimed it and died before taking care of it
      if (replay ? !(await d.engine.needsReplay(route.eventId)) : !(await d.engine.claimEvent(route.eventId))) return { drop: true };
      return { drop: false, context: { threadlineRoute: route, threadlineClaimed: true } };
    } catch (err) {
      // the store is away: let the engine try, and tell the person
      d.log.warn({ err }, 'could not claim a Slack event; passing it on');
      return { drop: false };
    }
  };
}
