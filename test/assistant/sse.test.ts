import { describe, expect, it } from 'vitest';
import { deltaText, parseEventStream } from '../../src/assistant/sse.js';
import type { StreamEvent } from '../../src/assistant/types.js';

async function parse(text: string | string[]): Promise<StreamEvent[]> {
  const chunks = (Array.isArray(text) ? text : [text]).map((t) => new TextEncoder().encode(t));
  async function* body() {
    yield* chunks;
  }
  const out: StreamEvent[] = [];
  for await (const ev of parseEventStream(body())) out.push(ev);
  return out;
}

const delta = (v: unknown) => JSON.stringify({ id: 'message_1', object: 'thread.message.delta', delta: { content: v } });

describe('SSE parser', () => {
  it('parses the Java fixture framing and stops at event:done', async () => {
    const evs = await parse(
      `id:1\nevent:thread.run.created\ndata:{"id":"run_1","status":"queued"}\n\nid:2\nevent:thread.message.delta\ndata:${delta([{ index: 0, type: 'text', text: { value: 'Hi' } }])}\n\nevent:done\ndata:[DONE]\n\nevent:thread.run.created\ndata:{}\n\n`,
    );
    expect(evs.map((e) => e.event)).toEqual(['thread.run.created', 'thread.message.delta']);
    expect(deltaText(evs[1].data as never)).toBe('Hi');
  });

  it('accepts event: done with a space, and a bare [DONE]', async () => {
    expect(await parse('event: done\ndata: [DONE]\n\n')).toEqual([]);
    expect(await parse('data:[DONE]\n\n')).toEqual([]);
  });

  it('joins multi-line data, ignores comments, heartbeats and id/status lines, handles CRLF and split chunks', async () => {
    const evs = await parse([': keep-alive\r\n', 'id:7\r\nevent:thread.run', '.completed\r\ndata:{"id":"run_1",\r\n', 'data:"status":"completed"}\r\n\r\n', ':heartbeat\n\n']);
    expect(evs).toHaveLength(1);
    expect(evs[0]).toMatchObject({ event: 'thread.run.completed', data: { id: 'run_1', status: 'completed' } });
  });

  it('accepts delta.content as an object (as the docs print it) as well as an array', async () => {
    const evs = await parse(`event:thread.message.delta\ndata:${delta({ type: 'text', text: { value: 'obj' } })}\n\n`);
    expect(deltaText(evs[0].data as never)).toBe('obj');
  });

  it('passes unknown events through, and reads error events with their status', async () => {
    const evs = await parse('event:thread.run.step.mystery\ndata:{"x":1}\n\nevent:error\nstatus:429\ndata:{"code":"Throttling.RateQuota","message":"slow down","request_id":"r1"}\n\n');
    expect(evs[0]).toEqual({ event: 'unknown', name: 'thread.run.step.mystery', data: { x: 1 } });
    expect(evs[1]).toMatchObject({ event: 'error', status: 429, data: { code: 'Throttling.RateQuota', request_id: 'r1' } });
  });

  it('handles a final event without a trailing blank line', async () => {
    const evs = await parse('event:thread.run.completed\ndata:{"id":"run_2","status":"completed"}');
    expect(evs[0]).toMatchObject({ event: 'thread.run.completed' });
  });

  it('reads every example payload shape of the reference: -1/null timestamps, empty ids', async () => {
    const step = {
      id: 'step_1',
      object: 'thread.run.step',
      created_at: 1712909007434,
      run_id: 'run_1',
      type: 'tool_calls',
      status: 'completed',
      cancelled_at: -1,
      completed_at: -1,
      failed_at: -1,
      expires_at: null,
      step_details: { type: 'tool_calls', tool_calls: [{ id: '', type: 'quark_search', quark_search: { input: '{"query": "x"}', output: '{"success": true}' } }] },
      usage: {},
    };
    const evs = await parse(
      `event:thread.run.step.completed\ndata:${JSON.stringify(step)}\n\nevent:thread.run.step.delta\ndata:{"id":"step_1","object":"thread.run.step.delta","delta":{"step_details":{"tool_calls":[{"index":0,"quark_search":{"input":"{"}}]}}}\n\n`,
    );
    expect(evs[0]).toMatchObject({ event: 'thread.run.step.completed', data: { cancelled_at: -1, expires_at: null } });
    expect(evs[1].event).toBe('thread.run.step.delta');
  });
});
