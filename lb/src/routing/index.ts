export * from './bounded.js';
export * from './hash.js';
export * from './maglev.js';
export * from './primes.js';
export * from './ring.js';
export * from './router.js';
export * from './shares.js';
export * from './table.js';
