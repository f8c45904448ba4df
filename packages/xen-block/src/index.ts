export * from './ring/index.js';
