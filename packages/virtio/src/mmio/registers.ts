/** virtio-mmio register offsets (virtio 1.x §4.2.2; legacy §4.2.4; reference/abi.md §4.4). */
export const VirtioMmioRegister = {
  MAGIC_VALUE: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  /** Legacy only. */
  GUEST_PAGE_SIZE: 0x028,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  /** Legacy only. */
  QUEUE_ALIGN: 0x03c,
  /** Legacy only. */
  QUEUE_PFN: 0x040,
  /** Version 2 only. */
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  SHM_SEL: 0x0ac,
  SHM_LEN_LOW: 0x0b0,
  SHM_LEN_HIGH: 0x0b4,
  SHM_BASE_LOW: 0x0b8,
  SHM_BASE_HIGH: 0x0bc,
  CONFIG_GENERATION: 0x0fc,
  /** Device-specific config space starts here. */
  CONFIG: 0x100,
} as const;
export type VirtioMmioRegisterName = keyof typeof VirtioMmioRegister;

/** "virt" little-endian. */
export const VIRTIO_MMIO_MAGIC = 0x74726976;
/** QEMU's vendor id ("QEMU" little-endian). */
export const VIRTIO_MMIO_VENDOR_QEMU = 0x554d4551;
/** Bytes of the register window (QEMU maps 0x200). */
export const VIRTIO_MMIO_WINDOW_SIZE = 0x200;
/** Access widths the MMIO window accepts. */
export type MmioAccessSize = 1 | 2 | 4;
