import { httpGet } from './http-get.js';

/**
 * A load of separate clients on a published port of every host while `during` runs: how many requests were
 * made and which failed (a new connection each, 20 ms apart per host).
 */
export async function underLoad<T>(
  addresses: readonly string[],
  port: number,
  during: () => Promise<T>,
): Promise<{ result: T; requests: number; failed: string[] }> {
  let stop = false;
  let requests = 0;
  const failed: string[] = [];
  const clients = addresses.map(async (address) => {
    while (!stop) {
      requests++;
      const r = await httpGet(`http://${address}:${port}/`, true).catch((err: Error) => ({
        status: 0,
        body: err.message,
      }));
      if (r.status !== 200) failed.push(`${address}: ${r.status} ${r.body}`);
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
