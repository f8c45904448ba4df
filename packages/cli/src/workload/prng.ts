/**
 * A small seeded PRNG (xoshiro128**, seeded through splitmix32) so that a job's offsets and data
 * are the same on every run with the same `randseed`, like fio's.
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A uniform integer in [0, n) for n ≤ 2^32 (rejection sampling, no modulo bias). */
  below(n: number): number {
    if (n <= 1) return 0;
    if (n > 0x1_0000_0000) {
      // Two draws for large ranges (block counts of huge disks).
      const hi = this.below(Math.ceil(n / 0x1_0000_0000));
      const v = hi * 0x1_0000_0000 + this.nextU32();
      return v < n ? v : this.below(n);
    }
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    for (;;) {
      const v = this.nextU32();
      if (v < limit) return v % n;
    }
  }

  /** A percentage draw: true with probability `percent`/100. */
  chance(percent: number): boolean {
    return this.below(100) < percent;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
