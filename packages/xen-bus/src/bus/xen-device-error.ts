import { VmkitError } from '@vmkit/core';

/**
 * A backend could not do what the frontend asked (bad ring-ref, unbindable event channel, ...).
 * Thrown by XenDevice helpers inside connect(); the state machine catches it, records it in
 * `lastError` and leaves the backend state unchanged, so a guest mistake never reaches the host.
 */
export class XenDeviceError extends VmkitError {
  /** The negative errno behind it, when there is one. */
  readonly errno: number | undefined;
  constructor(message: string, errno?: number) {
    super(message);
    this.errno = errno;
  }
}
