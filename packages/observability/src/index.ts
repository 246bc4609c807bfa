export { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
export type { HttpEndpoint } from './http-endpoint.js';
export { serveHttp } from './http-endpoint.js';
export type { Logger } from './logger.js';
export { createLogger } from './logger.js';
