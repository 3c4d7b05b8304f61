import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { closeServer, listenLocal } from './call-log.js';

/**
 * A host that serves files on 127.0.0.1: Discord's CDN in tests (signed URLs, the bytes with their
 * type and length), or a host nobody should send a token to. Records every request with its headers.
 */
export class FakeFileHost {
  readonly requests: Array<{ path: string; headers: IncomingHttpHeaders }> = [];
  private readonly files = new Map<string, { bytes: Buffer; contentType: string; declare?: number; redirect?: string; hang?: boolean }>();
  private server?: Server;
  url = '';
  host = '';

  /** Serves `bytes` at `path`; `declare` sends another Content-Length (a server that lies), `redirect` a 302, `hang` headers and then nothing. */
  put(path: string, bytes: Buffer, contentType: string, opts: { declare?: number; redirect?: string; hang?: boolean } = {}): string {
    this.files.set(path, { bytes, contentType, ...opts });
    return `${this.url}${path}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      this.requests.push({ path, headers: req.headers });
      const f = this.files.get(path);
      if (!f) return res.writeHead(404).end();
      if (f.redirect) return res.writeHead(302, { location: f.redirect }).end();
      if (f.hang) {
        // headers, a first byte, then silence: only a deadline ends it
        res.writeHead(200, { 'content-type': f.contentType, 'content-length': f.bytes.length });
        return void res.write(f.bytes.subarray(0, 1));
      }
      if (f.declare !== undefined) {
        // a server that sends more than it declared: the body goes on past Content-Length's promise
        res.writeHead(200, { 'content-type': f.contentType, 'transfer-encoding': 'chunked', 'x-declared-length': String(f.declare) });
        return res.end(f.bytes);
      }
      res.writeHead(200, { 'content-type': f.contentType, 'content-length': f.bytes.length }).end(f.bytes);
    });
    this.url = await listenLocal(this.server);
    this.host = this.url.replace('http://', '');
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }
}
