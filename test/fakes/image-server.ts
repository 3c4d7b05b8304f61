import { createServer, type Server } from 'node:http';
import { CallLog, closeServer, listenLocal, type Call } from './call-log.js';

/** A tiny valid PNG (1x1), the bytes tests compare against. */
export const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082', 'hex');

/** Serves images (and traps) on 127.0.0.1, the way DashScope's result bucket would. */
export class FakeImageHost {
  readonly log = new CallLog<Call>();
  private server?: Server;
  host = '';
  url = '';
  redirectTarget = 'http://169.254.169.254/latest/meta-data';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.log.record({ method: req.method ?? 'GET', path: req.url ?? '/', query: {}, headers: req.headers, body: null, at: Date.now() });
      const path = (req.url ?? '/').split('?')[0];
      if (path.endsWith('/cat.png')) return res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length }).end(PNG);
      if (path === '/big.png') {
        res.writeHead(200, { 'content-type': 'image/png' });
        const chunk = Buffer.alloc(64 * 1024, 1);
        let sent = 0;
        const pump = () => {
          while (sent < 2 * 1024 * 1024) {
            sent += chunk.length;
            if (!res.write(chunk)) return res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      if (path === '/page.png') return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>not an image</html>');
      if (path === '/redirect.png') return res.writeHead(302, { location: this.redirectTarget }).end();
      res.writeHead(404).end();
    });
    this.url = await listenLocal(this.server);
    this.host = this.url.replace('http://', '');
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }
}
