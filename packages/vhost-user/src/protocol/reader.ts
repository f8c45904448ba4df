/**
 * Reads one vhost-user message from a connection: the 12-byte header with the descriptors that
 * came with it, then the payload with none (libvhost-user vu_message_read). Reading exactly one
 * message keeps the next message's descriptors for its own header.
 */
import { closeFds } from '../descriptors.js';
import { osStrerror } from '../os-error.js';
import type { UnixConnection } from '../unix-connection.js';
import {
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_MAX_FDS,
  VHOST_USER_MAX_PAYLOAD,
  VhostUserFlag,
  vhostUserRequestName,
} from './constants.js';
import { decodeHeader, type VhostUserMessage } from './message.js';

/** Which side sent the message: requests must not carry REPLY, replies must. */
export type VhostUserDirection = 'request' | 'reply';

/** Why no message was read. */
export interface VhostUserReadEnd {
  /** `eof`: the peer closed between messages; `io`: the connection failed; `malformed`: a bad header. */
  readonly end: 'eof' | 'io' | 'malformed';
  readonly reason: string;
}

export interface ReadMessageOptions {
  readonly direction: VhostUserDirection;
  /** Largest payload accepted (default VHOST_USER_MAX_PAYLOAD). */
  readonly maxPayload?: number;
}

const KNOWN_FLAGS = VhostUserFlag.VERSION_MASK | VhostUserFlag.REPLY | VhostUserFlag.NEED_REPLY;
const EMPTY: Uint8Array = new Uint8Array(0);

function ioEnd(result: number, what: string): VhostUserReadEnd {
  if (result === 0) return { end: 'eof', reason: 'peer closed the connection' };
  return { end: 'io', reason: `${what}: ${osStrerror(result)}` };
}

/**
 * The next message, or why there is none. Descriptors of a rejected message are closed. After a
 * `malformed` end the payload was not read, so the stream is out of step: close the connection.
 */
export async function readMessage(
  connection: UnixConnection,
  options: ReadMessageOptions,
): Promise<VhostUserMessage | VhostUserReadEnd> {
  const head = await connection.readExactly(VHOST_USER_HEADER_SIZE, { maxFds: VHOST_USER_MAX_FDS });
  if (typeof head === 'number') return ioEnd(head, 'reading a message header');
  const fds = head.fds;
  const header = decodeHeader(head.data);
  const name = vhostUserRequestName(header.request);
  const malformed = (why: string): VhostUserReadEnd => {
    closeFds(fds);
    return { end: 'malformed', reason: `${name}: ${why}` };
  };
  if (head.fdsTruncated) return malformed(`more than ${VHOST_USER_MAX_FDS} file descriptors attached`);
  if ((header.flags & VhostUserFlag.VERSION_MASK) !== VhostUserFlag.VERSION) {
    return malformed(`protocol version ${header.flags & VhostUserFlag.VERSION_MASK}, 1 expected`);
  }
  if ((header.flags & ~KNOWN_FLAGS) !== 0) {
    return malformed(`unknown header flags 0x${(header.flags >>> 0).toString(16)}`);
  }
  const isReply = (header.flags & VhostUserFlag.REPLY) !== 0;
  if (isReply !== (options.direction === 'reply')) {
    return malformed(
      isReply ? 'a reply where a request was expected' : 'a request where a reply was expected',
    );
  }
  const maxPayload = options.maxPayload ?? VHOST_USER_MAX_PAYLOAD;
  if (header.size > maxPayload) {
    return malformed(`payload size ${header.size} exceeds the ${maxPayload}-byte limit`);
  }
  let payload = EMPTY;
  if (header.size > 0) {
    const body = await connection.readExactly(header.size, { maxFds: 0 });
    if (typeof body === 'number') {
      closeFds(fds);
      return body === 0
        ? { end: 'io', reason: `${name}: connection closed inside the message` }
        : ioEnd(body, `${name}: reading the payload`);
    }
    if (body.fdsTruncated) return malformed('file descriptors attached to the payload');
    payload = body.data;
  }
  return { ...header, payload, fds };
}

export function isReadEnd(result: VhostUserMessage | VhostUserReadEnd): result is VhostUserReadEnd {
  return 'end' in result;
}
