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

/**
 * A load of separate clients on a published port of every host while `during` runs: how many requests were
 * made and which failed, when (ms after the start) and why (a new connection each, 20 ms apart per host).
 */
export async function underLoad<T>(
  addresses: readonly string[],
  port: number,
  during: () => Promise<T>,
): Promise<{ result: T; requests: number; failed: string[] }> {
  let stop = false;
  let requests = 0;
  const start = Date.now();
  const failed: string[] = [];
  const clients = addresses.map(async (address) => {
    while (!stop) {
      requests++;
      const r = await httpGet(`http://${address}:${port}/`, true).catch((err: Error) => ({
        status: 0,
        body: err.message,
      }));
      if (r.status !== 200) failed.push(`+${Date.now() - start} ms ${address}: ${r.status} ${r.body}`);
      await new Promise((res) => setTimeout(res, 20));
    }
  });
  try {
    return { result: await during(), requests, failed };
  } finally {
    stop = true;
    await Promise.all(clients);
  }
}
