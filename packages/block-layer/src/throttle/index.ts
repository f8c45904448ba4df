export * from './config.js';
export * from './validate.js';
export * from './state.js';
export * from './timers.js';
export { ThrottledRequestQueue } from './request-queue.js';
export * from './group.js';
export * from './member.js';
export * from './limits.js';
export * from './group-object.js';
