import { AioContext, VirtualClock } from '@vmkit/core';
import { InProcessXen } from '../src/index.js';

/** An InProcessXen on a private context (virtual clock), plus one guest domain (domid 1). */
export function newXen(options: { pages?: number } = {}): { xen: InProcessXen; ctx: AioContext } {
  const ctx = new AioContext({ name: 'xen-test', clock: new VirtualClock() });
  const xen = new InProcessXen({ context: ctx });
  xen.createDomain({ domid: 1, pages: options.pages ?? 64 });
  return { xen, ctx };
}

/** One macrotask turn: lets promise continuations and setImmediate-scheduled BHs run. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
