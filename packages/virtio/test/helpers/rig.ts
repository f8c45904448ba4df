/** A device + virtio-mmio transport + guest driver over fresh guest memory, driven deterministically. */
import { AioContext, GuestMemory, VirtualClock } from '@vmkit/core';
import { VirtioMmioTransport, type VirtioDevice } from '../../src/index.js';
import { EchoDevice, GuestAllocator, VirtioMmioDriver, runBottomHalves } from '../../src/testing/index.js';

export const RAM_BASE = 0x10000;
export const RAM_SIZE = 0x100000;

export interface RigOptions<D extends VirtioDevice> {
  readonly legacy?: boolean;
  readonly device?: D;
  readonly queueSize?: number;
  readonly autoAck?: boolean;
}

export interface Rig<D extends VirtioDevice> {
  readonly memory: GuestMemory;
  readonly ctx: AioContext;
  readonly device: D;
  readonly transport: VirtioMmioTransport;
  readonly allocator: GuestAllocator;
  readonly driver: VirtioMmioDriver;
  /** Runs the main context's bottom halves (host-notifier dispatch) until idle. */
  run(): number;
}

export function makeRig<D extends VirtioDevice = EchoDevice>(options: RigOptions<D> = {}): Rig<D> {
  const memory = new GuestMemory();
  memory.addRegion(RAM_BASE, new ArrayBuffer(RAM_SIZE), 'ram');
  const ctx = new AioContext({ name: 'main', clock: new VirtualClock() });
  const device = options.device ?? (new EchoDevice({ queueSize: options.queueSize ?? 16 }) as unknown as D);
  const transport = new VirtioMmioTransport(device, {
    memory,
    context: ctx,
    legacy: options.legacy ?? false,
  });
  const allocator = new GuestAllocator(RAM_BASE, RAM_SIZE);
  const driver = new VirtioMmioDriver(transport, memory, {
    allocator,
    ...(options.autoAck !== undefined ? { autoAck: options.autoAck } : {}),
  });
  transport.setInterruptHandler(driver.irq);
  return { memory, ctx, device, transport, allocator, driver, run: () => runBottomHalves(ctx) };
}

/** Copies every byte of every region (to compare before/after). */
export function snapshot(memory: GuestMemory): Uint8Array[] {
  return memory.regions.map((r) => r.bytes.slice());
}

/** Guest addresses whose bytes differ from a snapshot. */
export function changedAddresses(memory: GuestMemory, before: readonly Uint8Array[]): number[] {
  const changed: number[] = [];
  memory.regions.forEach((r, i) => {
    const old = before[i];
    for (let j = 0; j < r.bytes.length; j++) if (r.bytes[j] !== old[j]) changed.push(r.gpa + j);
  });
  return changed;
}

export function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + 3) & 0xff;
  return out;
}
