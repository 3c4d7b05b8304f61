import { ToolError, type LocalTool } from './registry.js';

/** `get_current_time({ timezone })`: the current date and time, in an IANA time zone (default UTC). */
export const getCurrentTime: LocalTool = {
  name: 'get_current_time',
  description: "Get the current date and time. Use it whenever the answer depends on today's date or the time.",
  parameters: {
    type: 'object',
    properties: { timezone: { type: 'string', description: 'IANA time zone such as Europe/Berlin or Asia/Shanghai (default UTC)' } },
    required: [],
  },
  handler: ({ timezone }) => {
    const zone = typeof timezone === 'string' && timezone ? timezone : 'UTC';
    const now = new Date();
    let local: string;
    try {
      local = new Intl.DateTimeFormat('en-GB', { timeZone: zone, dateStyle: 'full', timeStyle: 'long' }).format(now);
    } catch {
      // Intl's RangeError says no more than this, and the model can correct its argument
      throw new ToolError(`unknown time zone ${zone}`);
    }
    return { timezone: zone, iso: now.toISOString(), local };
  },
};
