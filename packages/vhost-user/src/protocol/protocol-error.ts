import { VmkitError } from '@vmkit/core';

/**
 * A message that breaks the vhost-user protocol (bad size, unknown request, wrong descriptor
 * count, an index or address out of range). The back-end answers it by closing that connection
 * with this message as the logged reason; it never reaches the I/O path.
 */
export class VhostUserProtocolError extends VmkitError {}
