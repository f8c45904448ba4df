import { AioContext } from './aio-context.js';
import type { Clock } from './clock.js';

/** An IOThread object: a named AioContext (logical, on the same JS thread for now). */
export class IOThread extends AioContext {
  readonly id: string;

  constructor(id: string, clock?: Clock) {
    super({ name: id, clock });
    this.id = id;
  }
}

let main: AioContext | undefined;

/** qemu_get_aio_context: the process-wide main context (HostClock); a Machine may own its own. */
export function mainContext(): AioContext {
  return (main ??= new AioContext({ name: 'main' }));
}
