/**
 * A machine composed in code: a plugin contributes a bus and a device type, the machine gets an
 * IOThread and two devices, and is then inspected and torn down. Run with `node packages/core/dist/examples/hello-machine.js`.
 */
import { Machine, VirtualClock, defineDeviceType, definePlugin, type Device } from '@vmkit/core';

/** A tiny "LED" device whose only state is a blink counter driven by a timer on its context. */
class Led implements Device {
  blinks = 0;
  private timer: ReturnType<Machine['mainContext']['newTimer']> | undefined;
  constructor(
    private readonly machine: Machine,
    readonly periodNs: number,
    readonly iothread: string | undefined,
  ) {}
  realize(): void {
    const ctx = this.iothread ? this.machine.iothread(this.iothread) : this.machine.mainContext;
    this.timer = ctx.newTimer(() => {
      this.blinks++;
      this.timer?.arm(ctx.clock.now() + this.periodNs);
    });
    this.timer.arm(ctx.clock.now() + this.periodNs);
  }
  unrealize(): void {
    this.timer?.cancel();
  }
  reset(): void {
    this.blinks = 0;
  }
}

const ledPlugin = definePlugin('led', (ctx) => {
  ctx.busType({ name: 'led-bus', maxDevices: 4 });
  ctx.deviceType(
    defineDeviceType({
      name: 'led-controller',
      bus: 'sysbus',
      properties: {},
      create(_props, dev) {
        dev.createBus('led-bus', { name: `${dev.id}.0` });
        return { realize() {}, unrealize() {}, reset() {} };
      },
    }),
  );
  ctx.deviceType(
    defineDeviceType({
      name: 'led',
      bus: 'led-bus',
      properties: {
        period: { kind: 'int', min: 1_000, max: 1e12, default: 250_000_000 },
        iothread: { kind: 'link', target: 'iothread' },
      },
      create: (props, dev) => new Led(dev.machine, props.period, props.iothread),
    }),
  );
});

const clock = new VirtualClock();
const machine = await Machine.create({ plugins: [ledPlugin], clock, name: 'hello' });
await machine.objectAdd({ type: 'iothread', id: 'io0' });
await machine.deviceAdd({ type: 'led-controller', id: 'leds' });
const green = await machine.deviceAdd<Led>({ type: 'led', id: 'green', period: 100_000_000 });
const red = await machine.deviceAdd<Led>({ type: 'led', id: 'red', iothread: 'io0' });

await clock.advance(1_000_000_000); // one virtual second
console.log(`machine '${machine.name}': device types ${machine.deviceTypes().join(', ')}`);
for (const info of machine.devices())
  console.log(`  device ${info.id} (${info.type}) on bus '${info.bus?.name ?? '-'}'`);
console.log(`after 1 s of virtual time: green blinked ${green.blinks}×, red ${red.blinks}×`);

try {
  await machine.deviceAdd({ type: 'led', id: 'blue', period: 3 });
} catch (e) {
  console.log(`refused as expected: ${(e as Error).message}`);
}
await machine.destroy();
console.log('machine destroyed');
