/**
 * One vhost-user connection driving one VirtioDevice (the back-end half of QEMU's
 * hw/virtio/vhost-user.c, after libvhost-user's vu_dispatch). Messages are handled one at a time;
 * a message that breaks the protocol closes this connection with a logged reason, and the
 * device is reset when the connection ends, whatever the reason.
 */
import { GuestMemory, GuestMemoryError, mainContext, type AioContext } from '@vmkit/core';
import { featureBit, type VirtioDevice } from '@vmkit/virtio';
import { closeFds } from '../descriptors.js';
import { osStrerror } from '../os-error.js';
import {
  VHOST_USER_VRING_INDEX_MASK,
  VHOST_USER_VRING_NOFD_MASK,
  VHOST_VRING_F_LOG,
  VhostUserConfigFlag,
  VhostUserProtocolFeature,
  VhostUserRequest as R,
} from '../protocol/constants.js';
import { describeRequest, encodeReply, needsReply, type VhostUserMessage } from '../protocol/message.js';
import {
  decodeConfigAccess,
  decodeMemoryTable,
  decodeU64,
  decodeVringAddress,
  decodeVringState,
  encodeConfigAccess,
  encodeU64,
  encodeVringState,
  expectFdCount,
  expectPayloadSize,
} from '../protocol/payloads.js';
import { VhostUserProtocolError } from '../protocol/protocol-error.js';
import { isReadEnd, readMessage } from '../protocol/reader.js';
import type { UnixConnection } from '../unix-connection.js';
import { VhostMemoryTable } from './memory-table.js';
import { RingControl } from './ring-control.js';
import { writeDeviceConfig, readDeviceConfig } from './device-config.js';
import { negotiateFeatures, PROTOCOL_FEATURES_BIT } from './feature-negotiation.js';
import { describeStatus, type VhostUserBackendStatus } from './status.js';
import { VhostUserTransport } from './vhost-user-transport.js';
import { VhostVring } from './vhost-vring.js';

/** Protocol features offered: multiqueue (GET_QUEUE_NUM), REPLY_ACK and config space. */
export const VHOST_USER_BACKEND_PROTOCOL_FEATURES =
  featureBit(VhostUserProtocolFeature.MQ) |
  featureBit(VhostUserProtocolFeature.REPLY_ACK) |
  featureBit(VhostUserProtocolFeature.CONFIG);

const FD_REQUESTS: ReadonlySet<number> = new Set([
  R.SET_MEM_TABLE,
  R.SET_VRING_KICK,
  R.SET_VRING_CALL,
  R.SET_VRING_ERR,
]);

/** How a connection ended. */
export interface VhostUserCloseInfo {
  /** `peer`: the front-end hung up; `protocol`: a malformed message; `io`: the socket or an eventfd failed; `local`: close() was called; `internal`: a bug. */
  readonly kind: 'peer' | 'protocol' | 'io' | 'local' | 'internal';
  readonly reason: string;
}

export interface VhostUserBackendOptions {
  readonly device: VirtioDevice;
  /** Context of the transport (where interrupts are raised and, by default, kicks handled); default the main context. */
  readonly context?: AioContext;
  /** Where one-line reports go (closing reasons); default console.error. */
  readonly log?: (line: string) => void;
  /** Prefix of log lines (default `vhost-user <device name>`). */
  readonly name?: string;
}

function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

export class VhostUserBackend {
  readonly device: VirtioDevice;
  readonly name: string;
  readonly memory = new GuestMemory();
  readonly transport: VhostUserTransport;
  private readonly rings: VhostVring[];
  private readonly control: RingControl;
  private readonly logLine: (line: string) => void;
  private ownerValue = false;
  private protocolFeatures = 0n;
  private messages = 0;
  private closeInfo: VhostUserCloseInfo | null = null;
  private serving: Promise<VhostUserCloseInfo> | null = null;
  private resolveClosed!: (info: VhostUserCloseInfo) => void;
  private readonly closedPromise = new Promise<VhostUserCloseInfo>(
    (resolve) => (this.resolveClosed = resolve),
  );

  /** Plugs `options.device` (which must not be plugged elsewhere) into this connection. */
  constructor(
    readonly connection: UnixConnection,
    options: VhostUserBackendOptions,
  ) {
    this.device = options.device;
    this.name = options.name ?? `vhost-user ${options.device.name}`;
    const sink = options.log ?? ((line: string) => console.error(line));
    this.logLine = (line) => sink(`${this.name}: ${line}`);
    this.rings = this.device.queues.map(
      (q) =>
        new VhostVring(q, (ring, status) =>
          this.shutdown('io', `vring ${ring.index}: kick descriptor failed: ${osStrerror(status)}`),
        ),
    );
    this.transport = new VhostUserTransport(
      this.device,
      this.memory,
      options.context ?? mainContext(),
      this.rings,
    );
    this.control = new RingControl(
      this.device,
      this.memory,
      this.rings,
      () => this.closeInfo !== null,
      this.logLine,
    );
    this.device.plug(this.transport);
  }

  /** Handles messages until the connection ends; resolves with how it ended. */
  serve(): Promise<VhostUserCloseInfo> {
    this.serving ??= this.loop().then(() => this.closedPromise);
    return this.serving;
  }

  /** Resolves when the connection has ended. */
  get closed(): Promise<VhostUserCloseInfo> {
    return this.closedPromise;
  }

  get closeReason(): VhostUserCloseInfo | null {
    return this.closeInfo;
  }

  /** Closes the connection (the device is reset). Idempotent. */
  close(reason = 'closed by the back-end'): void {
    this.shutdown('local', reason);
  }

  get status(): VhostUserBackendStatus {
    return {
      open: this.closeInfo === null,
      owner: this.ownerValue,
      messages: this.messages,
      deviceStatus: this.device.status,
      features: this.device.guestFeatures,
      protocolFeatures: this.protocolFeatures,
      memoryRegions: this.control.table.regions.length,
      memorySize: this.control.table.totalSize,
      rings: this.rings.map((r) => ({
        index: r.index,
        size: r.num,
        started: r.started,
        enabled: this.control.isEnabled(r),
        active: r.active,
        lastAvailIdx: r.active ? r.queue.lastAvailIdx : r.base,
        kicks: r.kicks,
        calls: r.calls,
      })),
    };
  }

  /** One line for a daemon's status output. */
  statusLine(): string {
    return describeStatus(this.status);
  }

  private async loop(): Promise<void> {
    while (this.closeInfo === null) {
      const msg = await readMessage(this.connection, { direction: 'request' });
      if (isReadEnd(msg)) {
        this.shutdown(msg.end === 'eof' ? 'peer' : msg.end === 'malformed' ? 'protocol' : 'io', msg.reason);
        return;
      }
      if (this.closeInfo !== null) {
        closeFds(msg.fds);
        return;
      }
      this.messages++;
      try {
        await this.dispatch(msg);
      } catch (e) {
        const request = describeRequest(msg);
        if (e instanceof VhostUserProtocolError || e instanceof GuestMemoryError) {
          this.shutdown('protocol', e.message.startsWith(request) ? e.message : `${request}: ${e.message}`);
        } else {
          const detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
          this.shutdown('internal', `${request}: internal error: ${detail}`);
        }
      } finally {
        closeFds(msg.fds);
      }
    }
  }

  private async dispatch(msg: VhostUserMessage): Promise<void> {
    if (!FD_REQUESTS.has(msg.request)) expectFdCount(msg, 0);
    const result = await this.handle(msg);
    if (this.closeInfo !== null) return;
    if (typeof result !== 'number') {
      await this.send(msg, result);
    } else if (needsReply(msg)) {
      await this.send(msg, encodeU64(result));
    } else if (result !== 0) {
      this.logLine(`${describeRequest(msg)} failed (no reply requested)`);
    }
  }

  private async send(msg: VhostUserMessage, payload: Uint8Array): Promise<void> {
    const ret = await this.connection.write(encodeReply(msg.request, payload));
    if (ret < 0) this.shutdown('io', `${describeRequest(msg)}: sending the reply: ${osStrerror(ret)}`);
  }

  /** A reply payload, or the status for a REPLY_ACK (0 = success). */
  private async handle(msg: VhostUserMessage): Promise<Uint8Array | number> {
    switch (msg.request) {
      case R.GET_FEATURES:
        expectPayloadSize(msg, 0);
        return encodeU64(this.device.hostFeatures | PROTOCOL_FEATURES_BIT);
      case R.SET_FEATURES:
        this.setFeatures(decodeU64(msg));
        return 0;
      case R.GET_PROTOCOL_FEATURES:
        expectPayloadSize(msg, 0);
        return encodeU64(VHOST_USER_BACKEND_PROTOCOL_FEATURES);
      case R.SET_PROTOCOL_FEATURES: {
        const features = decodeU64(msg);
        const extra = features & ~VHOST_USER_BACKEND_PROTOCOL_FEATURES;
        if (extra !== 0n) throw this.error(msg, `protocol features ${hex(extra)} were not offered`);
        this.protocolFeatures = features;
        return 0;
      }
      case R.SET_OWNER:
        expectPayloadSize(msg, 0);
        this.ownerValue = true;
        return 0;
      case R.RESET_OWNER:
        // Deprecated; the spec recommends disabling every ring (as libvhost-user does).
        expectPayloadSize(msg, 0);
        this.control.stopAll();
        return 0;
      case R.GET_QUEUE_NUM:
        this.requireProtocolFeature(msg, VhostUserProtocolFeature.MQ, 'MQ');
        expectPayloadSize(msg, 0);
        return encodeU64(this.rings.length);
      case R.SET_MEM_TABLE: {
        const regions = decodeMemoryTable(msg);
        expectFdCount(msg, regions.length);
        this.control.replaceMemory(VhostMemoryTable.map(regions, msg.fds.splice(0)));
        return 0;
      }
      case R.SET_VRING_NUM:
        this.setVringNum(msg);
        return 0;
      case R.SET_VRING_ADDR:
        this.setVringAddr(msg);
        return 0;
      case R.SET_VRING_BASE: {
        const state = decodeVringState(msg);
        const ring = this.stoppedRing(msg, state.index);
        if (state.num > 0xffff)
          throw this.error(msg, `vring ${state.index}: base ${state.num} is not a 16-bit index`);
        ring.base = state.num;
        return 0;
      }
      case R.GET_VRING_BASE: {
        const state = decodeVringState(msg);
        const ring = this.ring(msg, state.index);
        const base = await this.control.stop(ring);
        return encodeVringState({ index: state.index, num: base });
      }
      case R.SET_VRING_KICK:
      case R.SET_VRING_CALL:
      case R.SET_VRING_ERR:
        this.setVringFile(msg);
        return 0;
      case R.SET_VRING_ENABLE: {
        const state = decodeVringState(msg);
        const ring = this.ring(msg, state.index);
        ring.enableRequested = state.num !== 0;
        this.control.update(ring);
        return 0;
      }
      case R.GET_CONFIG: {
        this.requireProtocolFeature(msg, VhostUserProtocolFeature.CONFIG, 'CONFIG');
        const access = decodeConfigAccess(msg);
        const data = readDeviceConfig(this.device, access.offset, access.data.length);
        return encodeConfigAccess({ offset: access.offset, flags: access.flags, data });
      }
      case R.SET_CONFIG: {
        this.requireProtocolFeature(msg, VhostUserProtocolFeature.CONFIG, 'CONFIG');
        const access = decodeConfigAccess(msg);
        if (access.flags !== VhostUserConfigFlag.WRITABLE && access.flags !== VhostUserConfigFlag.MIGRATION) {
          return 1;
        }
        writeDeviceConfig(this.device, access.offset, access.data);
        return 0;
      }
      default:
        throw this.error(msg, 'unknown or unsupported request');
    }
  }

  /** SET_FEATURES: the device goes through ACKNOWLEDGE, DRIVER and FEATURES_OK. */
  private setFeatures(value: bigint): void {
    const started = this.rings.find((r) => r.started);
    const acked = negotiateFeatures(this.device, value, started?.index);
    this.control.protocolFeaturesAcked = acked;
    this.control.updateAll();
  }

  private setVringNum(msg: VhostUserMessage): void {
    const state = decodeVringState(msg);
    const ring = this.stoppedRing(msg, state.index);
    const max = ring.queue.maxSize;
    if (state.num < 1 || state.num > max) {
      throw this.error(msg, `vring ${state.index}: size ${state.num} is not in 1..${max}`);
    }
    ring.num = state.num;
  }

  private setVringAddr(msg: VhostUserMessage): void {
    const addr = decodeVringAddress(msg);
    const ring = this.ring(msg, addr.index);
    if ((addr.flags & ~VHOST_VRING_F_LOG) !== 0) {
      throw this.error(msg, `vring ${addr.index}: unknown flags ${hex(addr.flags)}`);
    }
    this.control.checkTranslatable(ring, 'descriptor table', addr.desc);
    this.control.checkTranslatable(ring, 'avail ring', addr.avail);
    this.control.checkTranslatable(ring, 'used ring', addr.used);
    const old = ring.address;
    if (
      ring.active &&
      (old === null || old.desc !== addr.desc || old.avail !== addr.avail || old.used !== addr.used)
    ) {
      throw this.error(msg, `vring ${addr.index} is started: its rings cannot move`);
    }
    ring.address = addr;
  }

  /** SET_VRING_KICK/CALL/ERR: u64 with the index in bits 0-7 and "no descriptor" in bit 8. */
  private setVringFile(msg: VhostUserMessage): void {
    const value = decodeU64(msg);
    if ((value & ~BigInt(VHOST_USER_VRING_INDEX_MASK | VHOST_USER_VRING_NOFD_MASK)) !== 0n) {
      throw this.error(msg, `unknown bits in ${hex(value)}`);
    }
    const ring = this.ring(msg, Number(value & BigInt(VHOST_USER_VRING_INDEX_MASK)));
    const noFd = (value & BigInt(VHOST_USER_VRING_NOFD_MASK)) !== 0n;
    expectFdCount(msg, noFd ? 0 : 1);
    const fd = noFd ? null : msg.fds.splice(0)[0];
    if (msg.request === R.SET_VRING_CALL) {
      ring.setCall(fd);
    } else if (msg.request === R.SET_VRING_ERR) {
      ring.setErr(fd);
    } else {
      if (fd === null)
        throw this.error(msg, `vring ${ring.index}: polling (no kick descriptor) is not supported`);
      // A new kick descriptor for a running ring: pause, swap, resume where it was.
      const wasActive = ring.active;
      if (wasActive) {
        ring.started = false;
        this.control.update(ring);
      }
      ring.setKick(fd);
      ring.started = true;
      this.control.update(ring);
    }
  }

  private ring(msg: VhostUserMessage, index: number): VhostVring {
    const ring = this.rings[index];
    if (ring === undefined) {
      throw this.error(msg, `vring index ${index} out of range (the device has ${this.rings.length} queues)`);
    }
    return ring;
  }

  private stoppedRing(msg: VhostUserMessage, index: number): VhostVring {
    const ring = this.ring(msg, index);
    if (ring.started) throw this.error(msg, `vring ${index} is started (GET_VRING_BASE stops it)`);
    return ring;
  }

  private requireProtocolFeature(msg: VhostUserMessage, bit: number, name: string): void {
    if ((this.protocolFeatures & featureBit(bit)) === 0n) {
      throw this.error(msg, `VHOST_USER_PROTOCOL_F_${name} was not negotiated`);
    }
  }

  private error(msg: VhostUserMessage, what: string): VhostUserProtocolError {
    return new VhostUserProtocolError(`${describeRequest(msg)}: ${what}`);
  }

  private shutdown(kind: VhostUserCloseInfo['kind'], reason: string): void {
    if (this.closeInfo !== null) return;
    const info: VhostUserCloseInfo = { kind, reason };
    this.closeInfo = info;
    this.control.stopAll();
    for (const ring of this.rings) ring.closeFds();
    const inFlight = this.device.queues.some((q) => q.inUse > 0);
    // Unplugging resets the device: the next front-end finds it as new.
    this.device.unplug();
    this.control.releaseMemory(inFlight);
    this.connection.close();
    this.logLine(kind === 'peer' ? 'front-end disconnected' : `closing the connection: ${reason}`);
    this.resolveClosed(info);
  }
}
