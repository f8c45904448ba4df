/**
 * One QMP connection, independent of its transport (monitor/qmp.c): it greets the client, parses
 * the byte stream into requests, enforces capabilities negotiation, dispatches through the
 * monitor's registry, and writes responses and events. The transport only moves bytes: it feeds
 * `receive()` and tells `disconnected()`; the session writes through `QmpTransport.write`.
 */
import type { QmpCommand, QmpCommandContext } from './command.js';
import { QmpError, toQmpError, type QmpErrorBody } from './errors.js';
import {
  isJsonObject,
  JsonStreamParser,
  toQmpJson,
  type JsonObject,
  type JsonStreamLimits,
  type JsonStreamResult,
  type JsonValue,
} from './json/index.js';
import type { QmpMonitor } from './monitor.js';
import { validateArguments } from './schema.js';

/** Moves the session's output to the client. */
export interface QmpTransport {
  /** Sends one message, already terminated by CRLF (ASCII text). */
  write(text: string): void;
  /** Closes the connection from the server side (after quit, or when the monitor goes away). */
  close(): void;
}

/** `negotiating` until qmp_capabilities succeeds, then `command`; `closed` at the end. */
export type QmpSessionState = 'negotiating' | 'command' | 'closed';

/** A success or error response (`id` echoed when the request had one). */
export type QmpResponse =
  | { readonly return: unknown; readonly id?: JsonValue }
  | { readonly error: QmpErrorBody; readonly id?: JsonValue };

/** What a session needs from its monitor (given by QmpMonitor.openSession). */
export interface QmpSessionHost {
  readonly monitor: QmpMonitor;
  /** Runs `task` after every task queued before it, across all sessions (one command at a time). */
  enqueue(task: () => Promise<void>): Promise<void>;
  /** The session closed: stop sending it events. */
  closed(session: QmpSession): void;
  readonly limits?: JsonStreamLimits;
}

const CAPABILITIES = 'qmp_capabilities';

/** qmp_dispatch_check_obj: the command name, or the error QEMU gives for a malformed request. */
function commandName(request: JsonObject): string {
  let name: string | undefined;
  for (const [key, value] of Object.entries(request)) {
    if (key === 'execute') {
      if (typeof value !== 'string') throw QmpError.generic("QMP input member 'execute' must be a string");
      name = value;
    } else if (key === 'arguments') {
      if (!isJsonObject(value)) throw QmpError.generic("QMP input member 'arguments' must be an object");
    } else if (key !== 'id') {
      // exec-oob included: the oob capability is never offered.
      throw QmpError.generic(`QMP input member '${key}' is unexpected`);
    }
  }
  if (name === undefined) throw QmpError.generic("QMP input lacks member 'execute'");
  return name;
}

let nextSessionId = 1;

export class QmpSession {
  /** A number unique in the process, for logs. */
  readonly id = nextSessionId++;
  readonly monitor: QmpMonitor;
  readonly #host: QmpSessionHost;
  readonly #transport: QmpTransport;
  readonly #parser: JsonStreamParser;
  #state: QmpSessionState = 'negotiating';
  #pending: Promise<void> = Promise.resolve();

  constructor(host: QmpSessionHost, transport: QmpTransport) {
    this.#host = host;
    this.monitor = host.monitor;
    this.#transport = transport;
    this.#parser = new JsonStreamParser((result) => this.#request(result), host.limits);
  }

  get state(): QmpSessionState {
    return this.#state;
  }

  /** Capabilities negotiation is complete: commands run and events are delivered. */
  get negotiated(): boolean {
    return this.#state === 'command';
  }

  /** Input bytes from the client, in any chunking. */
  receive(chunk: Uint8Array | string): void {
    if (this.#state === 'closed') return;
    this.#parser.feed(chunk);
  }

  /** Resolves once every request received so far has been answered (or dropped by a close). */
  whenIdle(): Promise<void> {
    return this.#pending;
  }

  /** Writes one message to the client unless the session is closed. */
  send(message: object): void {
    if (this.#state === 'closed') return;
    this.#transport.write(`${toQmpJson(message)}\r\n`);
  }

  /** Writes a message already serialised with its CRLF (events are serialised once for all sessions). */
  sendRaw(text: string): void {
    if (this.#state === 'closed') return;
    this.#transport.write(text);
  }

  /** qmp_capabilities succeeded. */
  enterCommandMode(): void {
    if (this.#state === 'negotiating') this.#state = 'command';
  }

  /** Closes the connection from the server side; requests not yet answered are dropped. */
  close(): void {
    if (!this.#forget()) return;
    this.#transport.close();
  }

  /** The client went away (the transport saw the connection end). */
  disconnected(): void {
    this.#forget();
  }

  #forget(): boolean {
    if (this.#state === 'closed') return false;
    this.#state = 'closed';
    this.#parser.reset();
    this.#host.closed(this);
    return true;
  }

  #request(result: JsonStreamResult): void {
    const done = this.#host.enqueue(() => this.#handle(result));
    this.#pending = this.#pending.then(() => done);
  }

  async #handle(result: JsonStreamResult): Promise<void> {
    if (this.#state === 'closed') return;
    const after: (() => void | Promise<void>)[] = [];
    try {
      const response = await this.#dispatch(result, after);
      this.send(response);
      for (const action of after) await action();
    } catch {
      // Only the transport or an after-response action can get here: the connection is unusable.
      this.close();
    }
  }

  /** qmp_dispatch plus monitor_qmp_dispatch's negotiation-mode message. */
  async #dispatch(result: JsonStreamResult, after: (() => void | Promise<void>)[]): Promise<QmpResponse> {
    if (!result.ok) return { error: { class: 'GenericError', desc: result.error } };
    const request = result.value;
    if (!isJsonObject(request))
      return { error: QmpError.generic('QMP input must be a JSON object').toBody() };
    const hasId = Object.hasOwn(request, 'id');
    const id = request.id;
    try {
      const name = commandName(request);
      const command = this.#lookup(name);
      const given = request.arguments;
      const { args, rest } = validateArguments(
        command.args ?? {},
        isJsonObject(given) ? given : {},
        command.extraArgs,
      );
      const ctx: QmpCommandContext = {
        machine: this.monitor.machine,
        monitor: this.monitor,
        session: this,
        rest,
        afterResponse: (action) => after.push(action),
      };
      const ret = await command.run(args, ctx);
      return hasId ? { return: ret ?? {}, id } : { return: ret ?? {} };
    } catch (e) {
      let error = toQmpError(e);
      if (this.#state === 'negotiating' && error.errorClass === 'CommandNotFound') {
        error = new QmpError('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'");
      }
      return hasId ? { error: error.toBody(), id } : { error: error.toBody() };
    }
  }

  #lookup(name: string): QmpCommand {
    const command =
      this.#state === 'negotiating' && name !== CAPABILITIES ? undefined : this.monitor.commands.get(name);
    if (command === undefined)
      throw new QmpError('CommandNotFound', `The command ${name} has not been found`);
    return command;
  }
}
