/**
 * A minimal vhost-user front-end (the "master" side QEMU plays), for tests and tools that drive
 * a back-end over its socket: typed requests, replies checked against their request, REPLY_ACK,
 * and raw sends for deliberately malformed messages. Failures throw (this is a test tool, not
 * the I/O path).
 */
import { closeFds } from '../descriptors.js';
import { OsErrno, OsError } from '../os-error.js';
import { UnixConnection } from '../unix-connection.js';
import {
  VHOST_USER_VRING_NOFD_MASK,
  VhostUserFlag,
  VhostUserRequest as R,
  vhostUserRequestName,
} from './constants.js';
import { encodeMessage, type VhostUserMessage } from './message.js';
import {
  decodeConfigAccess,
  decodeU64,
  decodeVringState,
  encodeConfigAccess,
  encodeMemoryTable,
  encodeU64,
  encodeVringAddress,
  encodeVringState,
  type MemoryRegionDescription,
  type VringAddress,
} from './payloads.js';
import { VhostUserProtocolError } from './protocol-error.js';
import { isReadEnd, readMessage } from './reader.js';

/** Requests answered with a payload whether or not NEED_REPLY is set. */
const REPLYING: ReadonlySet<number> = new Set([
  R.GET_FEATURES,
  R.GET_PROTOCOL_FEATURES,
  R.GET_VRING_BASE,
  R.GET_QUEUE_NUM,
  R.GET_CONFIG,
]);

export interface MasterRequestOptions {
  readonly fds?: readonly number[];
  /** Sets NEED_REPLY and waits for the ack (default: the master's `needReply`). */
  readonly needReply?: boolean;
}

export class VhostUserMaster {
  /** Ask for an ack on every request that has no reply of its own (REPLY_ACK negotiated). */
  needReply = false;

  constructor(readonly connection: UnixConnection) {}

  /** Connects to a back-end's socket; throws an OsError if nothing listens there. */
  static connect(path: string): VhostUserMaster {
    return new VhostUserMaster(OsError.check(UnixConnection.connect(path), `connect to ${path}`));
  }

  /**
   * Sends a request and returns the reply payload: the explicit reply of a GET request, the u64
   * ack when NEED_REPLY was set, or null when no reply is expected.
   */
  async request(
    request: number,
    payload?: Uint8Array,
    options: MasterRequestOptions = {},
  ): Promise<Uint8Array | null> {
    const needReply = options.needReply ?? this.needReply;
    const flags = VhostUserFlag.VERSION | (needReply ? VhostUserFlag.NEED_REPLY : 0);
    await this.sendRaw(encodeMessage(request, flags, payload), options.fds);
    if (!REPLYING.has(request) && !needReply) return null;
    const reply = await this.readReply(request);
    return reply.payload;
  }

  /** Sends bytes as they are (one sendmsg, descriptors on the first byte). */
  async sendRaw(bytes: Uint8Array, fds: readonly number[] = []): Promise<void> {
    const ret = await this.connection.write(bytes, fds);
    if (ret < 0) throw new OsError(ret, 'vhost-user master: send');
  }

  /** Reads the reply to `request`; throws if the back-end closed or answered something else. */
  async readReply(request: number): Promise<VhostUserMessage> {
    const reply = await readMessage(this.connection, { direction: 'reply' });
    if (isReadEnd(reply)) {
      throw new VhostUserProtocolError(`no reply to ${vhostUserRequestName(request)}: ${reply.reason}`);
    }
    closeFds(reply.fds);
    if (reply.request !== request) {
      throw new VhostUserProtocolError(
        `reply to ${vhostUserRequestName(reply.request)} while waiting for ${vhostUserRequestName(request)}`,
      );
    }
    return reply;
  }

  /** Resolves true once the back-end has closed the connection (reads and drops anything before). */
  async waitClosed(): Promise<boolean> {
    for (;;) {
      const r = await this.connection.readExactly(1, { maxFds: 8 });
      if (typeof r === 'number') return r === 0 || r === -OsErrno.ECONNRESET;
      closeFds(r.fds);
    }
  }

  close(): void {
    this.connection.close();
  }

  // ---- typed requests ----

  async getFeatures(): Promise<bigint> {
    return this.u64Reply(R.GET_FEATURES, await this.request(R.GET_FEATURES));
  }

  /** Returns the ack value when NEED_REPLY was used, else null. */
  async setFeatures(features: bigint): Promise<bigint | null> {
    return this.ack(R.SET_FEATURES, await this.request(R.SET_FEATURES, encodeU64(features)));
  }

  async getProtocolFeatures(): Promise<bigint> {
    return this.u64Reply(R.GET_PROTOCOL_FEATURES, await this.request(R.GET_PROTOCOL_FEATURES));
  }

  async setProtocolFeatures(features: bigint): Promise<bigint | null> {
    return this.ack(
      R.SET_PROTOCOL_FEATURES,
      await this.request(R.SET_PROTOCOL_FEATURES, encodeU64(features)),
    );
  }

  async setOwner(): Promise<bigint | null> {
    return this.ack(R.SET_OWNER, await this.request(R.SET_OWNER));
  }

  async getQueueNum(): Promise<number> {
    return Number(this.u64Reply(R.GET_QUEUE_NUM, await this.request(R.GET_QUEUE_NUM)));
  }

  /** `fds[i]` backs `regions[i]` (the same descriptor may be passed for several regions). */
  async setMemTable(
    regions: readonly MemoryRegionDescription[],
    fds: readonly number[],
  ): Promise<bigint | null> {
    return this.ack(
      R.SET_MEM_TABLE,
      await this.request(R.SET_MEM_TABLE, encodeMemoryTable(regions), { fds }),
    );
  }

  async setVringNum(index: number, num: number): Promise<bigint | null> {
    return this.ack(R.SET_VRING_NUM, await this.request(R.SET_VRING_NUM, encodeVringState({ index, num })));
  }

  async setVringBase(index: number, num: number): Promise<bigint | null> {
    return this.ack(R.SET_VRING_BASE, await this.request(R.SET_VRING_BASE, encodeVringState({ index, num })));
  }

  async getVringBase(index: number): Promise<number> {
    const payload = await this.request(R.GET_VRING_BASE, encodeVringState({ index, num: 0 }));
    return decodeVringState(this.asMessage(R.GET_VRING_BASE, payload)).num;
  }

  async setVringAddr(addr: VringAddress): Promise<bigint | null> {
    return this.ack(R.SET_VRING_ADDR, await this.request(R.SET_VRING_ADDR, encodeVringAddress(addr)));
  }

  /** `fd` null sends the "no descriptor" flag. */
  async setVringKick(index: number, fd: number | null): Promise<bigint | null> {
    return this.vringFile(R.SET_VRING_KICK, index, fd);
  }

  async setVringCall(index: number, fd: number | null): Promise<bigint | null> {
    return this.vringFile(R.SET_VRING_CALL, index, fd);
  }

  async setVringErr(index: number, fd: number | null): Promise<bigint | null> {
    return this.vringFile(R.SET_VRING_ERR, index, fd);
  }

  async setVringEnable(index: number, enable: boolean): Promise<bigint | null> {
    const payload = encodeVringState({ index, num: enable ? 1 : 0 });
    return this.ack(R.SET_VRING_ENABLE, await this.request(R.SET_VRING_ENABLE, payload));
  }

  /** The config bytes; an empty array is the back-end's way of reporting an error. */
  async getConfig(offset: number, size: number, flags = 0): Promise<Uint8Array> {
    const payload = encodeConfigAccess({ offset, flags, data: new Uint8Array(size) });
    const reply = await this.request(R.GET_CONFIG, payload);
    if (reply === null || reply.length === 0) return new Uint8Array(0);
    return decodeConfigAccess(this.asMessage(R.GET_CONFIG, reply)).data.slice();
  }

  async setConfig(offset: number, data: Uint8Array, flags = 0): Promise<bigint | null> {
    return this.ack(
      R.SET_CONFIG,
      await this.request(R.SET_CONFIG, encodeConfigAccess({ offset, flags, data })),
    );
  }

  private async vringFile(request: number, index: number, fd: number | null): Promise<bigint | null> {
    const value = BigInt(index) | (fd === null ? BigInt(VHOST_USER_VRING_NOFD_MASK) : 0n);
    return this.ack(request, await this.request(request, encodeU64(value), { fds: fd === null ? [] : [fd] }));
  }

  private asMessage(request: number, payload: Uint8Array | null): VhostUserMessage {
    const bytes = payload ?? new Uint8Array(0);
    return {
      request,
      flags: VhostUserFlag.VERSION | VhostUserFlag.REPLY,
      size: bytes.length,
      payload: bytes,
      fds: [],
    };
  }

  private u64Reply(request: number, payload: Uint8Array | null): bigint {
    return decodeU64(this.asMessage(request, payload));
  }

  private ack(request: number, payload: Uint8Array | null): bigint | null {
    return payload === null ? null : this.u64Reply(request, payload);
  }
}
