import { describe, expect, it } from 'vitest';
import { ipKey } from './rate-limit.ts';

describe('ipKey', () => {
  it('names an IPv4 client by its address, and an IPv6 one by its /64 however it is written', () => {
    expect(ipKey(null)).toBeNull();
    expect(ipKey('203.0.113.7')).toBe('203.0.113.7');
    expect(ipKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    const block = '2001:db8:77:1::/64';
    for (const address of ['2001:db8:77:1::1', '2001:0db8:0077:0001:ffff:1:2:3', '2001:DB8:77:1:a::b'])
      expect(ipKey(address), address).toBe(block);
    expect(ipKey('2001:db8:77:2::1')).toBe('2001:db8:77:2::/64');
    expect(ipKey('::1')).toBe('0:0:0:0::/64');
    expect(ipKey('2001:db8::')).toBe('2001:db8:0:0::/64');
  });
});
