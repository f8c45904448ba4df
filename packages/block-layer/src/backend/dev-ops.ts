/**
 * BlockDevOps: the callbacks a device model gives its BlockBackend (QEMU BlockDevOps). Every
 * method is optional; `this` is the ops object, so a device class can implement the interface
 * itself and pass `this` to `setDevOps()`.
 */
export interface BlockDevOps {
  /**
   * change_media_cb: the medium was loaded (`load` true) or ejected. Loading may fail by throwing
   * a ConfigError; ejecting never fails. Its presence makes the medium removable.
   */
  changeMedia?(load: boolean): void;
  /** eject_request_cb: the user asked to eject (`force`: the medium goes anyway). */
  ejectRequest?(force: boolean): void;
  /** is_tray_open: present only on devices with a tray. */
  isTrayOpen?(): boolean;
  /** is_medium_locked: the guest locked the medium. */
  isMediumLocked?(): boolean;
  /** resize_cb: the node's length changed. */
  resize?(): void;
  /** drained_begin: called once when the outermost drained section of the BlockBackend begins (B1). */
  drainedBegin?(): void;
  /** drained_end: called once when the outermost section ends (B2). */
  drainedEnd?(): void;
  /** drained_poll: whether the device still has work the drain must wait for (B3). */
  drainedPoll?(): boolean;
}
