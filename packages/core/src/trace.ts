import diagnostics_channel from 'node:diagnostics_channel';

/**
 * Tracing over node:diagnostics_channel (QEMU trace events): channel `vmkit:<area>:<event>`,
 * e.g. `vmkit:block:io-error`. Subscribe with `diagnostics_channel.subscribe(name, fn)`.
 */

/** area -> event -> channel; nested so trace() builds no string once the channel exists. */
const channels = new Map<string, Map<string, diagnostics_channel.Channel>>();

function checkPart(kind: 'area' | 'event', value: string): void {
  if (value.length === 0 || value.includes(':')) {
    throw new TypeError(`trace ${kind} '${value}' must be non-empty and must not contain ':'`);
  }
}

/**
 * The channel `vmkit:<area>:<event>`, created once and kept, so its identity and subscribers are
 * stable. Hot paths fetch it once and test `hasSubscribers` before building a message.
 */
export function traceChannel(area: string, event: string): diagnostics_channel.Channel {
  let events = channels.get(area);
  if (events === undefined) {
    checkPart('area', area);
    events = new Map();
    channels.set(area, events);
  }
  let channel = events.get(event);
  if (channel === undefined) {
    checkPart('event', event);
    channel = diagnostics_channel.channel(`vmkit:${area}:${event}`);
    events.set(event, channel);
  }
  return channel;
}

/** Publish `message` on `vmkit:<area>:<event>` if anyone subscribes; otherwise do nothing. */
export function trace(area: string, event: string, message: object): void {
  const channel = traceChannel(area, event);
  if (channel.hasSubscribers) channel.publish(message);
}
