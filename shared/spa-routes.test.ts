import { describe, expect, it } from 'vitest';
import { isSpaPath, SPA_PATHS } from './spa-routes.ts';

describe('isSpaPath', () => {
  it('knows every page of the SPA and the admin section below its prefix', () => {
    for (const path of SPA_PATHS) expect(isSpaPath(path), path).toBe(true);
    expect(isSpaPath('/admin')).toBe(true);
    expect(isSpaPath('/admin/users')).toBe(true);
    expect(isSpaPath('/admin/codes/')).toBe(true);
  });

  it('matches as the router does: any letter case, trailing slashes, escaped letters', () => {
    expect(isSpaPath('/create/')).toBe(true);
    expect(isSpaPath('/Gallery')).toBe(true);
    expect(isSpaPath('/cre%61te')).toBe(true);
    expect(isSpaPath('//')).toBe(true);
  });

  it('refuses paths the SPA has no page for', () => {
    for (const path of [
      '/no-such-page',
      '/create/extra',
      '/creates',
      '/administrator',
      '/admin/nope',
      '/admin/users/extra',
      '/favicon.ico',
      '/trpc/auth.me',
      '/%E0%A4%A',
    ])
      expect(isSpaPath(path), path).toBe(false);
  });
});
