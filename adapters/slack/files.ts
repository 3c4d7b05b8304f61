import { DownloadGuard } from '../../src/engine/downloads.js';
import type { SharedFile, SharedFileRef } from '../../src/engine/types.js';

const LOGIN_PAGE = 'Slack sent its sign-in page instead of the file (the app needs the files:read scope)';

/**
 * Downloads a file shared on Slack with the bot token, from SLACK_FILES_HOSTS only: the token is
 * never sent anywhere else, a redirect to another host included (the guard refuses it before it
 * connects). Slack answers a download it will not authorise with 200 and an HTML sign-in page
 * (docs/slack.md §3): that is refused by its content type, and by its first bytes where the type
 * lies, and never passed off as the file.
 *
 * @example const file = await slackFileFetcher({ hosts: ["files.slack.com"], token: async () => botToken })(ref, 20 * 1024 * 1024)
 */
export function slackFileFetcher(opts: {
  hosts: string[];
  token: (ref: SharedFileRef) => Promise<string | undefined>;
  timeoutMs?: number;
}): (ref: SharedFileRef, maxBytes: number) => Promise<SharedFile> {
  const guard = new DownloadGuard({ hosts: opts.hosts, hostsVariable: 'SLACK_FILES_HOSTS', timeoutMs: opts.timeoutMs ?? 30_000 });
  return async (ref, maxBytes) => {
    const token = await opts.token(ref);
    if (!token) throw new Error('the app is no longer installed in the workspace the file was shared in');
    const got = await guard.download(ref.url, {
      maxBytes,
      headers: { authorization: `Bearer ${token}` },
      accept: (type) => (type === 'text/html' && ref.contentType !== 'text/html' ? LOGIN_PAGE : undefined),
    });
    if (ref.contentType !== 'text/html' && /^\s*<(!doctype html|html)[\s>]/i.test(Buffer.from(got.bytes.subarray(0, 200)).toString('latin1'))) throw new Error(LOGIN_PAGE);
    return { name: ref.name, contentType: ref.contentType || got.contentType, bytes: got.bytes };
  };
}
