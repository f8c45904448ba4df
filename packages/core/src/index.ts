import 'reflect-metadata';

export * from './errors.js';
export * from './trace.js';
export * from './loop/index.js';
export * from './memory/index.js';
export * from './machine/index.js';
