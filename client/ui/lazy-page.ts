import { type ComponentType, lazy } from 'react';

/**
 * A page in its own chunk, loaded on first render, or earlier with `preload` (e.g. while the session is
 * checked, so the chunk and the check travel together instead of one after the other).
 */
export function lazyPage<P extends object>(load: () => Promise<ComponentType<P>>) {
  let loading: Promise<{ default: ComponentType<P> }> | undefined;
  const preload = () => {
    loading ??= load().then((page) => ({ default: page }));
    return loading;
  };
  return Object.assign(lazy(preload), { preload });
}
