export * from './model.js';
export type { UiServer, UiServerOptions } from './server/ui-server.js';
export { startUiServer } from './server/ui-server.js';
