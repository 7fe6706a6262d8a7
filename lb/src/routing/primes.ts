/** Maglev's table size must be prime (config checks MAGLEV_TABLE_SIZE with this too). */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}
