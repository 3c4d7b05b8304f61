import type { CodeStep, FinalReply, MinutesReply, ReplySink, TurnStatus } from '../../src/engine/types.js';
import type { WebHub } from './hub.js';

/** How often a streaming reply is sent to the page at most: the whole text goes each time. */
const STREAM_EVERY_MS = 80;

/**
 * A reply in the playground: every capability a sink can have, each an event to the tabs that
 * have the conversation open. `reply` ties the pieces of one answer together on the page.
 */
export class WebSink implements ReplySink {
  private pending?: string;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly hub: WebHub,
    private readonly key: string,
    private readonly reply: string,
    private readonly fileUrl: (id: string) => string,
    private readonly streamEveryMs = STREAM_EVERY_MS,
  ) {}

  async status(s: TurnStatus): Promise<void> {
    this.hub.publish(this.key, { type: 'status', reply: this.reply, status: s.kind === 'tool' ? `Using ${s.name}…` : 'Thinking…' });
  }

  /** The message waits for a free turn slot: its reply shows that it is in line, until its turn's own status replaces it. */
  async waiting(): Promise<void> {
    this.hub.publish(this.key, { type: 'status', reply: this.reply, status: 'Many questions at once: yours is in line…' });
  }

  async text(soFar: string): Promise<void> {
    this.pending = soFar;
    this.timer ??= setTimeout(() => this.flush(), this.streamEveryMs);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending === undefined) return;
    this.hub.publish(this.key, { type: 'text', reply: this.reply, text: this.pending });
    this.pending = undefined;
  }

  async code(step: CodeStep): Promise<void> {
    this.flush();
    this.hub.publish(this.key, { type: 'code', reply: this.reply, input: step.input, output: step.output });
  }

  async finish(r: FinalReply): Promise<void> {
    this.pending = undefined;
    this.flush();
    const images = [];
    for (const img of r.images) images.push({ url: this.fileUrl(await this.hub.putFile(img.bytes, img.contentType, img.filename)), alt: img.alt, name: img.filename, contentType: img.contentType });
    this.hub.publish(this.key, { type: 'finish', reply: this.reply, text: r.text, images });
  }

  async notice(text: string): Promise<void> {
    this.hub.publish(this.key, { type: 'notice', reply: this.reply, text });
  }

  async fail(text: string): Promise<void> {
    this.pending = undefined;
    this.flush();
    this.hub.publish(this.key, { type: 'fail', reply: this.reply, text });
  }

  async minutes(m: MinutesReply): Promise<void> {
    const url = this.fileUrl(await this.hub.putFile(m.file.bytes, m.file.contentType, m.file.filename));
    this.hub.publish(this.key, { type: 'minutes', reply: this.reply, title: m.title, text: m.text, file: { url, name: m.file.filename } });
  }
}
