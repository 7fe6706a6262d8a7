export * from './hash.js';
export * from './router.js';
export * from './table.js';
export * from './ring.js';
export * from './maglev.js';
export * from './primes.js';
export * from './shares.js';
export * from './bounded.js';
