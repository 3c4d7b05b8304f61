import type { Logger } from '../log.js';
import type { MinutesReply, ReplySink } from './types.js';

/** For a queued message whose platform does not run here: log what would have been said. */
export function silentSink(log: Logger): ReplySink {
  const drop = async (what: string) => log.warn({ what }, 'no platform here to post a reply for a queued message');
  return { status: async () => {}, text: async () => {}, code: async () => {}, finish: () => drop('reply'), notice: () => drop('notice'), fail: () => drop('failure'), minutes: () => drop('minutes') };
}

export async function safely(fn: () => Promise<unknown>, log: Logger): Promise<void> {
  try {
    await fn();
  } catch (err) {
    log.warn({ err }, 'could not post to the chat');
  }
}

export function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid'; // for a log line: the URL itself is not logged (it may carry a signature)
  }
}

/** The same sink with some of its methods replaced (the others forward to `out`; capabilities `out` lacks stay absent). */
export function overrideSink(out: ReplySink, overrides: Partial<ReplySink>): ReplySink {
  const sink: ReplySink = { finish: (r) => out.finish(r), notice: (t) => out.notice(t), fail: (t) => out.fail(t) };
  if (out.status) sink.status = (st) => out.status!(st);
  if (out.text) sink.text = (t) => out.text!(t);
  if (out.code) sink.code = (step) => out.code!(step);
  if (out.minutes) sink.minutes = (m) => out.minutes!(m);
  if (out.whisper) sink.whisper = (t) => out.whisper!(t);
  if (out.place) sink.place = () => out.place!();
  if (out.watchPlace) sink.watchPlace = (changed) => out.watchPlace!(changed);
  return { ...sink, ...overrides };
}

/** The same sink, telling `onText` the streamed text as it goes (to finish a stopped reply with what was said). */
export function watchText(out: ReplySink, onText: (soFar: string) => void): ReplySink {
  // without streaming the text still arrives here (the engine calls `text?.`), it just is not shown
  return overrideSink(out, { text: async (t) => (onText(t), await out.text?.(t)) });
}

/** Tells the person alone where the platform can (a refusal meant for them), else everyone in the conversation. */
export function tellPerson(sink: ReplySink, text: string): Promise<void> {
  return sink.whisper ? sink.whisper(text) : sink.notice(text);
}

/** Minutes posted with their file where the platform can, else as a notice. */
export function postMinutes(sink: ReplySink, minutes: MinutesReply): Promise<void> {
  return sink.minutes ? sink.minutes(minutes) : sink.notice(minutes.text);
}
