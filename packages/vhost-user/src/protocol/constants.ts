/**
 * vhost-user protocol numbers (QEMU docs/interop/vhost-user.rst). All fields are in the host's
 * byte order, which is little-endian on every platform this package builds for.
 */

/** Front-end ("master") requests. */
export const VhostUserRequest = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  SEND_RARP: 19,
  NET_SET_MTU: 20,
  SET_SLAVE_REQ_FD: 21,
  IOTLB_MSG: 22,
  SET_VRING_ENDIAN: 23,
  GET_CONFIG: 24,
  SET_CONFIG: 25,
  CREATE_CRYPTO_SESSION: 26,
  CLOSE_CRYPTO_SESSION: 27,
  POSTCOPY_ADVISE: 28,
  POSTCOPY_LISTEN: 29,
  POSTCOPY_END: 30,
  GET_INFLIGHT_FD: 31,
  SET_INFLIGHT_FD: 32,
  GPU_SET_SOCKET: 33,
  RESET_DEVICE: 34,
  VRING_KICK: 35,
  GET_MAX_MEM_SLOTS: 36,
  ADD_MEM_REG: 37,
  REM_MEM_REG: 38,
  SET_STATUS: 39,
  GET_STATUS: 40,
} as const;

export type VhostUserRequestName = keyof typeof VhostUserRequest;
export type VhostUserRequestCode = (typeof VhostUserRequest)[VhostUserRequestName];

const requestNames = new Map<number, VhostUserRequestName>(
  (Object.entries(VhostUserRequest) as [VhostUserRequestName, number][]).map(([name, code]) => [code, name]),
);

/** `GET_FEATURES (1)`, or `request 99` for a number the protocol does not define. */
export function vhostUserRequestName(request: number): string {
  const name = requestNames.get(request);
  return name === undefined ? `request ${request}` : `${name} (${request})`;
}

/** Header flag bits. */
export const VhostUserFlag = {
  /** Bits 0-1: protocol version. */
  VERSION_MASK: 0x3,
  /** The only version defined. */
  VERSION: 0x1,
  /** Set on every reply from the back-end. */
  REPLY: 0x4,
  /** The front-end wants an ack (REPLY_ACK). */
  NEED_REPLY: 0x8,
} as const;

/** Protocol feature bits (GET/SET_PROTOCOL_FEATURES). */
export const VhostUserProtocolFeature = {
  MQ: 0,
  LOG_SHMFD: 1,
  RARP: 2,
  REPLY_ACK: 3,
  MTU: 4,
  SLAVE_REQ: 5,
  CROSS_ENDIAN: 6,
  CRYPTO_SESSION: 7,
  PAGEFAULT: 8,
  CONFIG: 9,
  SLAVE_SEND_FD: 10,
  HOST_NOTIFIER: 11,
  INFLIGHT_SHMFD: 12,
  RESET_DEVICE: 13,
  INBAND_NOTIFICATIONS: 14,
  CONFIGURE_MEM_SLOTS: 15,
  STATUS: 16,
} as const;

/** The reserved virtio feature bit (UNUSED, 30) that offers GET/SET_PROTOCOL_FEATURES. */
export const VHOST_USER_F_PROTOCOL_FEATURES = 30;

/** Bits 0-7 of the u64 payload of SET_VRING_KICK/CALL/ERR: the vring index. */
export const VHOST_USER_VRING_INDEX_MASK = 0xff;
/** Bit 8 of the same payload: no descriptor attached (polling). */
export const VHOST_USER_VRING_NOFD_MASK = 0x100;

/** Message header: request u32, flags u32, size u32. */
export const VHOST_USER_HEADER_SIZE = 12;
/** Descriptors one message may carry (VHOST_MEMORY_BASELINE_NREGIONS). */
export const VHOST_USER_MAX_FDS = 8;
/** Regions in a SET_MEM_TABLE payload. */
export const VHOST_USER_MAX_MEM_REGIONS = 8;
/** Largest config-space access (VHOST_USER_MAX_CONFIG_SIZE). */
export const VHOST_USER_MAX_CONFIG_SIZE = 256;

/** Payload layouts, in bytes. */
export const VhostUserPayloadSize = {
  U64: 8,
  VRING_STATE: 8,
  VRING_ADDR: 40,
  MEMORY_HEADER: 8,
  MEMORY_REGION: 32,
  CONFIG_HEADER: 12,
} as const;

/** The largest payload this back-end reads; anything longer is refused before it is read. */
export const VHOST_USER_MAX_PAYLOAD = VhostUserPayloadSize.CONFIG_HEADER + VHOST_USER_MAX_CONFIG_SIZE;

/** SET_CONFIG flags. */
export const VhostUserConfigFlag = {
  /** A guest write to writable fields. */
  WRITABLE: 0,
  /** Live-migration restore: read-only fields may be written too. */
  MIGRATION: 1,
} as const;

/** SET_VRING_ADDR flags bit 0: log used-ring writes (VHOST_VRING_F_LOG). */
export const VHOST_VRING_F_LOG = 0x1;
