/**
 * Machine events as QMP events: STOP, RESUME, DEVICE_DELETED and BLOCK_IO_ERROR, with the data
 * members of QEMU's qapi/run-state.json, qapi/qdev.json and qapi/block-core.json.
 */
import { BlockLayer } from '@vmkit/block-layer';
import type { BlockIoErrorEvent, Disposer, EntityEvent, Machine } from '@vmkit/core';
import type { QmpMonitor } from './monitor.js';

/** DEVICE_DELETED's data. */
export interface DeviceDeletedData {
  readonly device: string;
  /** The device's QOM path: user-created devices live under /machine/peripheral. */
  readonly path: string;
}

/** BLOCK_IO_ERROR's data. */
export interface BlockIoErrorData {
  readonly device: string;
  readonly 'node-name'?: string;
  readonly operation: 'read' | 'write';
  readonly action: 'ignore' | 'report' | 'stop';
  /** Present when the BlockBackend's iostatus is enabled (as query-block's io-status). */
  readonly nospace?: boolean;
  readonly reason: string;
}

export function deviceDeletedData(event: EntityEvent): DeviceDeletedData {
  return { device: event.id, path: `/machine/peripheral/${event.id}` };
}

/** send_qmp_error_event: `nospace` only accompanies an enabled iostatus. */
export function blockIoErrorData(machine: Machine, event: BlockIoErrorEvent): BlockIoErrorData {
  let iostatus = true;
  const layer = machine.blockLayer instanceof BlockLayer ? machine.blockLayer : undefined;
  if (layer !== undefined && event.device !== '') {
    const blk = layer.backends.byName(event.device) ?? layer.backends.byDevId(event.device);
    if (blk !== undefined) iostatus = blk.iostatusIsEnabled();
  }
  return {
    device: event.device,
    ...(event.nodeName !== '' ? { 'node-name': event.nodeName } : {}),
    operation: event.operation,
    action: event.action,
    ...(iostatus ? { nospace: event.nospace } : {}),
    reason: event.reason,
  };
}

/** Forwards the machine's events to the monitor's sessions; returns the unsubscriber. */
export function subscribeMachineEvents(monitor: QmpMonitor, machine: Machine): Disposer {
  const disposers: Disposer[] = [
    machine.events.on('stop', () => monitor.emitEvent('STOP')),
    machine.events.on('resume', () => monitor.emitEvent('RESUME')),
    machine.events.on('device-deleted', (e) => monitor.emitEvent('DEVICE_DELETED', deviceDeletedData(e))),
    machine.events.on('block-io-error', (e) =>
      monitor.emitEvent('BLOCK_IO_ERROR', blockIoErrorData(machine, e)),
    ),
  ];
  return () => {
    for (const dispose of disposers.splice(0)) dispose();
  };
}
