import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * Checks `Authorization: Bearer <key>` in constant time (both sides hashed
 * to the same length first, so neither the key's length nor a matching
 * prefix shows in the timing). The scheme is case-insensitive (RFC 9110).
 */
export class ApiKey {
  private readonly expected: Buffer;

  constructor(key: string) {
    if (key === '') throw new Error('An empty API key would let every client in.');
    this.expected = digest(key);
  }

  accepts(authorization: string | undefined): boolean {
    const m = /^bearer[ \t]+(.*?)[ \t]*$/is.exec(authorization ?? '');
    return timingSafeEqual(digest(m ? m[1] : ''), this.expected);
  }
}
