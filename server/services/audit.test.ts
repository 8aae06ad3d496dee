import { describe, expect, it } from 'vitest';
import { type AuditDetails, auditDetailText, parseAuditDetail } from './audit.ts';

describe('audit details', () => {
  it('reads back every particular it writes, so the admin page can word it in its own language', () => {
    const all: AuditDetails[] = [
      { kind: 'credits', credits: 50 },
      { kind: 'codes', count: 5, credits: 25 },
      { kind: 'token', scope: 'user', expiresAt: null },
      { kind: 'token', scope: 'admin', expiresAt: new Date('2027-01-02T03:04:05.000Z') },
      { kind: 'cli' },
    ];
    for (const details of all) expect(parseAuditDetail(auditDetailText(details))).toEqual(details);
  });

  it('keeps the text as it was stored before the particulars existed', () => {
    expect(auditDetailText({ kind: 'codes', count: 5, credits: 25 })).toBe('5 codes × 25 credits');
    expect(auditDetailText({ kind: 'token', scope: 'user', expiresAt: null })).toBe('scope=user');
  });

  it('gives null for no text or a text it does not write', () => {
    expect(parseAuditDetail(null)).toBeNull();
    expect(parseAuditDetail('something else')).toBeNull();
    expect(parseAuditDetail('scope=user expires=not-a-date')).toBeNull();
  });
});
