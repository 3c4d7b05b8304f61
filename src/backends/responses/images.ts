import { delay, type Transport } from '../../assistant/http.js';
import { ModelError } from '../errors.js';

/** Models answered by the synchronous multimodal-generation endpoint (reference §3); the rest are async tasks. */
const SYNC_MODEL = /^(qwen-image|wan2\.6-t2i|wan2\.7-image)/;

export interface ImageSynthesisOptions {
  model: string;
  /** First poll of an async task after this long, then every `pollMs` (default 3 s, as Alibaba advises). */
  pollMs?: number;
  /** Give a task up after this long (default 2 min). */
  timeoutMs?: number;
}

interface TaskAnswer {
  output?: { task_id?: string; task_status?: string; results?: Array<{ url?: string; code?: string; message?: string }>; code?: string; message?: string };
  request_id?: string;
  code?: string;
  message?: string;
}

/**
 * DashScope image synthesis over its native HTTP API: the image models are not on the
 * compatible-mode endpoint, so Responses' `text_to_image` is a local function that calls this.
 * Async models: POST .../text2image/image-synthesis with `X-DashScope-Async: enable`, then poll
 * GET /tasks/{id} until SUCCEEDED. Sync models: POST .../multimodal-generation/generation.
 * The result is a signed OSS URL that expires after 24 h (download it at once).
 *
 * @example const url = await new ImageSynthesis(transport, { model: 'wan2.5-t2i-preview' }).generate('a red fox', { signal })
 */
export class ImageSynthesis {
  constructor(
    private readonly http: Transport,
    private readonly opts: ImageSynthesisOptions,
  ) {}

  get model(): string {
    return this.opts.model;
  }

  async generate(prompt: string, o: { size?: string; negativePrompt?: string; signal: AbortSignal }): Promise<string> {
    const size = /^\d{3,4}\*\d{3,4}$/.test(o.size ?? '') ? o.size! : '1024*1024';
    if (SYNC_MODEL.test(this.opts.model)) {
      const res = await this.http.request<{ output?: { choices?: Array<{ message?: { content?: Array<{ image?: string }> } }> }; request_id?: string }>({
        method: 'POST',
        path: '/services/aigc/multimodal-generation/generation',
        body: {
          model: this.opts.model,
          input: { messages: [{ role: 'user', content: [{ text: prompt }] }] },
          parameters: { size, n: 1, watermark: false, ...(o.negativePrompt ? { negative_prompt: o.negativePrompt } : {}) },
        },
        signal: o.signal,
      });
      const url = res.output?.choices?.[0]?.message?.content?.find((c) => c.image)?.image;
      if (!url) throw new ModelError({ status: 200, code: 'InvalidResponse', message: 'image synthesis returned no image', requestId: res.request_id });
      return url;
    }
    const created = await this.http.request<TaskAnswer>({
      method: 'POST',
      path: '/services/aigc/text2image/image-synthesis',
      headers: { 'X-DashScope-Async': 'enable' },
      body: { model: this.opts.model, input: { prompt, ...(o.negativePrompt ? { negative_prompt: o.negativePrompt } : {}) }, parameters: { size, n: 1, watermark: false } },
      signal: o.signal,
    });
    const id = created.output?.task_id;
    if (!id) throw new ModelError({ status: 200, code: 'InvalidResponse', message: 'image synthesis returned no task', requestId: created.request_id });
    const deadline = Date.now() + (this.opts.timeoutMs ?? 120_000);
    for (;;) {
      await delay(this.opts.pollMs ?? 3_000, o.signal);
      const task = await this.http.request<TaskAnswer>({ method: 'GET', path: `/tasks/${encodeURIComponent(id)}`, signal: o.signal });
      const status = task.output?.task_status;
      if (status === 'SUCCEEDED') {
        const url = task.output?.results?.find((r) => r.url)?.url;
        if (url) return url;
        const failed = task.output?.results?.find((r) => r.code);
        throw new ModelError({ status: 200, code: failed?.code ?? 'InvalidResponse', message: failed?.message ?? 'the image task succeeded without an image', requestId: task.request_id });
      }
      if (status === 'FAILED' || status === 'CANCELED' || status === 'UNKNOWN') {
        throw new ModelError({ status: 200, code: task.output?.code ?? `Task${status}`, message: task.output?.message ?? `image task ${status}`, requestId: task.request_id });
      }
      if (Date.now() > deadline) throw new ModelError({ status: 0, code: 'Timeout', message: 'image task still running after the deadline' });
    }
  }
}
