/** A Machine with the block layer on a VirtualClock, and the ConfigError check its QMP-style calls need. */
import { expect } from 'chai';
import { ConfigError, Machine, VirtualClock, type VmkitPlugin } from '@vmkit/core';
import { blockLayerPlugin } from '../../src/index.js';

/** A Machine with `blockLayerPlugin` followed by `extra` plugins, on a fresh VirtualClock. */
export async function blockMachine(...extra: VmkitPlugin[]): Promise<{ m: Machine; clock: VirtualClock }> {
  const clock = new VirtualClock();
  const m = await Machine.create({ plugins: [blockLayerPlugin, ...extra], clock });
  return { m, clock };
}

/** `p` rejects with a ConfigError whose message equals `message` (a string) or matches it (a RegExp). */
export async function rejects(p: Promise<unknown>, message: string | RegExp): Promise<void> {
  let error: unknown;
  try {
    await p;
  } catch (e) {
    error = e;
  }
  expect(error, 'expected a ConfigError').to.be.instanceOf(ConfigError);
  if (typeof message === 'string') expect((error as Error).message).to.equal(message);
  else expect((error as Error).message).to.match(message);
}
