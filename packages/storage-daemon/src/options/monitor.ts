/**
 * `--chardev socket,...` and `--monitor [chardev=]ID,...` (qemu-storage-daemon's monitor options):
 * a chardev here is only a listening unix socket, and a monitor is QMP served on it by
 * @vmkit/monitor's QmpServer. Which chardev a monitor names is resolved by the command line, in order.
 */
import { ConfigError } from '@vmkit/core';
import { KeyvalReader, parseKeyval } from './keyval.js';

/** A `--chardev socket,id=ID,path=PATH,server=on` value: a unix socket the daemon listens on. */
export interface SocketChardevOptions {
  readonly backend: 'socket';
  readonly id: string;
  readonly path: string;
  /**
   * QEMU's wait=on blocks start-up until a client connects; vmkit never blocks (see README), the
   * value is kept so that a command line written for QEMU is accepted.
   */
  readonly wait: boolean;
}

export type ChardevOptions = SocketChardevOptions;

/** A `--monitor` value: QMP on the chardev `chardev`. */
export interface MonitorOptions {
  readonly chardev: string;
  readonly id: string | undefined;
}

/** QEMU's id_wellformed. */
const ID_RE = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/** Reads one --chardev value (qemu_chr_parse_socket, unix sockets only). */
export function parseChardevOptions(text: string): ChardevOptions {
  const r = new KeyvalReader(parseKeyval(text, 'backend'));
  const backend = r.string('backend');
  if (backend !== 'socket') {
    throw new ConfigError(`'${backend}' is not a valid char driver name (supported: socket)`);
  }
  const id = r.optionalString('id');
  if (id === undefined) throw new ConfigError('chardev: no id specified');
  if (!ID_RE.test(id)) {
    throw new ConfigError(`Parameter 'id' expects an identifier`);
  }
  const path = r.optionalString('path');
  const host = r.optionalString('host');
  if (host !== undefined) {
    throw new ConfigError(
      `Parameter 'host' is not supported by vmkit-storage-daemon: only unix sockets (path=) are`,
    );
  }
  if (path === undefined || path === '') throw new ConfigError('chardev: socket: no path given');
  const server = r.bool('server', false);
  if (!server) {
    throw new ConfigError(
      'server=off is not supported by vmkit-storage-daemon: the monitor socket must be a listening server (server=on)',
    );
  }
  const wait = r.bool('wait', true);
  r.unsupported('abstract', 'sockets are files');
  r.unsupported('tight', 'sockets are files');
  r.unsupported('reconnect', 'only server sockets are supported');
  r.unsupported('telnet', 'QMP is served as plain JSON');
  r.unsupported('websocket', 'QMP is served as plain JSON');
  r.unsupported('tls-creds', 'TLS is not implemented');
  r.unsupported('logfile', 'no chardev logging');
  r.unsupported('logappend', 'no chardev logging');
  r.unsupported('mux', 'a chardev serves one monitor');
  r.finish();
  return { backend, id, path, wait };
}

/** Reads one --monitor value (MonitorOptions, qapi/control.json): QMP only, as qemu-storage-daemon. */
export function parseMonitorOptions(text: string): MonitorOptions {
  const r = new KeyvalReader(parseKeyval(text, 'chardev'));
  const chardev = r.string('chardev');
  const id = r.optionalString('id');
  const mode = r.optionalString('mode');
  if (mode !== undefined && mode !== 'control') {
    if (mode === 'readline') throw new ConfigError('Only QMP is supported');
    throw new ConfigError(`Parameter 'mode' does not accept value '${mode}'`);
  }
  if (r.bool('pretty', false)) {
    throw new ConfigError("Parameter 'pretty' is not supported by vmkit-storage-daemon: replies are compact");
  }
  r.finish();
  return { chardev, id };
}
