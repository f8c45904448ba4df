import {
  Machine,
  VirtualClock,
  defineDeviceType,
  definePlugin,
  type ClockTimer,
  type Device,
} from '@vmkit/core';

/** A watchdog: resets the machine unless kicked within `timeout` ms. */
class Watchdog implements Device {
  fired = 0;
  private timer: ClockTimer | undefined;
  constructor(
    private readonly machine: Machine,
    private readonly timeoutMs: number,
  ) {}
  realize(): void {
    // Take resources here: unrealize must give back everything, so the id can be reused.
    this.timer = this.machine.mainContext.newTimer(() => {
      this.fired++;
      this.machine.reset(); // resets every device, this one included
    });
    this.kick();
  }
  unrealize(): void {
    this.timer?.cancel();
  }
  reset(): void {
    this.kick();
  }
  kick(): void {
    this.timer?.arm(this.machine.clock.now() + this.timeoutMs * 1e6);
  }
}

const watchdogPlugin = definePlugin('watchdog', (ctx) =>
  ctx.deviceType(
    defineDeviceType({
      name: 'watchdog',
      bus: 'sysbus',
      properties: { timeout: { kind: 'int', min: 1, max: 3_600_000, default: 1000, description: 'ms' } },
      create: (props, dev) => new Watchdog(dev.machine, props.timeout), // props.timeout: number
    }),
  ),
);

const clock = new VirtualClock();
const machine = await Machine.create({ clock, plugins: [watchdogPlugin] });
await machine
  .deviceAdd({ type: 'watchdog', id: 'wd0', timeout: 0 })
  .catch((e: Error) => console.log(e.message));
// watchdog 'wd0': property 'timeout' = 0: must be between 1 and 3600000
const wd = await machine.deviceAdd<Watchdog>({ type: 'watchdog', id: 'wd0', timeout: '500' });
machine.events.on('reset', () => console.log(`machine reset at ${clock.now() / 1e6} ms`));
await clock.advance(400e6);
wd.kick(); // in time
await clock.advance(1000e6); // machine reset at 900 ms
console.log(`fired ${wd.fired} time(s)`); // fired 2 time(s): at 900 and 1400 ms
await machine.deviceDel('wd0'); // unrealize cancels the timer
await machine.deviceAdd({ type: 'watchdog', id: 'wd0' }); // the id is free again
await machine.destroy();
