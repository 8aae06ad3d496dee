import { type ComponentType, lazy } from 'react';
import { loadMessages, type MessagePart } from '../i18n/index.tsx';

/**
 * A page in its own chunk, loaded together with the dictionary parts it shows (so it never renders a
 * missing string) on first render, or earlier with `preload` (e.g. while the session is checked, so the
 * chunk and the check travel together instead of one after the other).
 */
export function lazyPage<P extends object>(load: () => Promise<ComponentType<P>>, parts: MessagePart[]) {
  let loading: Promise<{ default: ComponentType<P> }> | undefined;
  const preload = () => {
    loading ??= Promise.all([load(), loadMessages(...parts)]).then(([page]) => ({ default: page }));
    return loading;
  };
  return Object.assign(lazy(preload), { preload });
}
