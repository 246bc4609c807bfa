export * from './gen/flotilla/v1/common.js';
export * from './gen/flotilla/v1/control.js';
export * from './gen/flotilla/v1/dispatcher.js';
export * from './gen/flotilla/v1/objects.js';
export * from './gen/flotilla/v1/service.js';
export * from './gen/flotilla/v1/stack.js';
export { isId, newId } from './ids.js';
export { isValidObjectName, OBJECT_NAME_PATTERN, qualify } from './naming.js';
