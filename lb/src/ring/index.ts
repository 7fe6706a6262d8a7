export * from './hash.js';
export * from './ring.js';
export * from './shares.js';
