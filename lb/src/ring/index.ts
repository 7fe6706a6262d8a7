export * from './hash.js';
export * from './ring.js';
export * from './shares.js';
export * from './router.js';
export * from './maglev.js';
