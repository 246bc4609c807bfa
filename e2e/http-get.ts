import http from 'node:http';

/**
 * An HTTP GET from the test process with a 3 s timeout, its body trimmed; `fresh`: a new connection each time
 * (no keep-alive), as a load of separate clients makes.
 */
export function httpGet(url: string, fresh = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: fresh ? false : undefined, timeout: 3_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}
