import { discordKeys } from '../../adapters/discord/key.js';
import { slackKeys } from '../../adapters/slack/key.js';
import type { ConversationKeyCodec } from '../../src/engine/conversation-key.js';
import type { CodeStep, FinalReply, MinutesReply, PlatformPort, ReplySink, ReplyTarget, TurnStatus } from '../../src/engine/types.js';
import { CallLog } from './call-log.js';

/** One thing the engine said, as a platform would have shown it. */
export type SinkEvent =
  | { at: number; target: ReplyTarget; type: 'status'; status: TurnStatus }
  | { at: number; target: ReplyTarget; type: 'text'; text: string }
  | { at: number; target: ReplyTarget; type: 'code'; step: CodeStep }
  | { at: number; target: ReplyTarget; type: 'finish'; reply: FinalReply }
  | { at: number; target: ReplyTarget; type: 'notice'; text: string }
  | { at: number; target: ReplyTarget; type: 'fail'; text: string }
  | { at: number; target: ReplyTarget; type: 'minutes'; minutes: MinutesReply };

/**
 * A platform edge for engine tests: records what the engine would have posted, per target.
 * (The Slack and Discord adapters have their own end-to-end tests against fake servers.)
 */
export class RecordingPlatform implements PlatformPort {
  readonly log = new CallLog<SinkEvent>();
  /** Engine tests use Slack's and Discord's keys; the engine asks the codec only whether a key is a DM. */
  readonly keys: ConversationKeyCodec<string> = {
    platform: 'test',
    encode: (key) => key,
    decode: (key) => key,
    isDirect: (key) => (key.startsWith('slack:') ? slackKeys : discordKeys).isDirect(key),
  };

  sinkFor(target: ReplyTarget): ReplySink {
    const rec = (e: Record<string, unknown>) => this.log.record({ at: Date.now(), target, ...e } as SinkEvent);
    return {
      status: async (status) => rec({ type: 'status', status }),
      text: async (text) => rec({ type: 'text', text }),
      code: async (step) => rec({ type: 'code', step }),
      finish: async (reply) => rec({ type: 'finish', reply }),
      notice: async (text) => rec({ type: 'notice', text }),
      fail: async (text) => rec({ type: 'fail', text }),
      minutes: async (minutes) => rec({ type: 'minutes', minutes }),
    };
  }

  /** Final replies and failures (what ends a turn), optionally for one target id. */
  endings(channel?: string): SinkEvent[] {
    return this.log.filter((e) => (e.type === 'finish' || e.type === 'fail') && (!channel || e.target.channel === channel));
  }

  waitForEnding(channel: string, count = 1): Promise<SinkEvent[]> {
    return this.log.waitForCount((e) => (e.type === 'finish' || e.type === 'fail') && e.target.channel === channel, count, 10_000, `${count} endings in ${channel}`);
  }
}

export function textOf(e: SinkEvent | undefined): string {
  if (!e) return '';
  if (e.type === 'finish') return e.reply.text;
  if (e.type === 'fail' || e.type === 'notice' || e.type === 'text') return e.text;
  return '';
}
