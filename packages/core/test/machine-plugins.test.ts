import { expect } from 'chai';
import { inject, injectable, preDestroy } from 'inversify';
import {
  BUS_TYPE,
  ConfigError,
  DEVICE_TYPE,
  DeviceTypeRegistry,
  MACHINE,
  Machine,
  VirtualClock,
  definePlugin,
  type Contribution,
  type Device,
  type DeviceType,
} from '../src/index.js';
import { rejection } from './helpers/rejection.js';

class ToyDevice implements Device {
  realized = false;
  constructor(readonly size: number) {}
  realize(): void {
    this.realized = true;
  }
  unrealize(): void {
    this.realized = false;
  }
  reset(): void {}
}

function toyType(name = 'toy'): DeviceType {
  return {
    name,
    bus: 'toy-bus',
    properties: { size: { kind: 'int', min: 1, default: 8 } },
    create: (props) => new ToyDevice(props.size as number),
  };
}

describe('machine: plugins', () => {
  it('a plugin defined in the test adds a toy device type and a toy bus, and the machine realizes the device', async () => {
    const toy = definePlugin('toy', (ctx) => {
      ctx.busType({ name: 'toy-bus' });
      ctx.deviceType({
        name: 'toy-host',
        bus: null,
        properties: {},
        create: (_props, dctx) => {
          dctx.createBus('toy-bus', { name: 'toy.0' });
          return { realize() {}, unrealize() {}, reset() {} };
        },
      });
      ctx.deviceType(toyType());
    });
    const m = await Machine.create({ plugins: [toy] });
    expect(m.deviceTypes()).to.deep.equal(['toy', 'toy-host']);
    expect(m.busTypes()).to.deep.equal(['sysbus', 'toy-bus']);
    expect(m.objectTypes()).to.deep.equal(['iothread']);
    expect(m.blockDrivers()).to.deep.equal([]);
    expect(m.plugins()).to.deep.equal(['core', 'toy']);
    await m.deviceAdd({ type: 'toy-host', id: 'host' });
    const dev = await m.deviceAdd<ToyDevice>({ type: 'toy', id: 't0', size: '16' });
    expect(dev).to.be.instanceOf(ToyDevice);
    expect(dev.realized).to.equal(true);
    expect(dev.size).to.equal(16);
    expect(m.bus('toy.0').children.map((c) => c.id)).to.deep.equal(['t0']);
    expect(m.device('t0')).to.equal(dev);
    await m.destroy();
    expect(dev.realized).to.equal(false);
  });

  it('records the plugin of each contribution in the container', async () => {
    const toy = definePlugin('toy', (ctx) => {
      ctx.busType({ name: 'toy-bus' });
      ctx.deviceType(toyType());
    });
    const m = await Machine.create({ plugins: [toy] });
    const records = m.container.getAll<Contribution<DeviceType>>(DEVICE_TYPE);
    expect(records.map((r) => [r.plugin, r.value.name])).to.deep.equal([['toy', 'toy']]);
    const buses = m.container.getAll<Contribution<{ name: string }>>(BUS_TYPE);
    expect(buses.map((r) => `${r.plugin}:${r.value.name}`)).to.deep.equal(['core:sysbus', 'toy:toy-bus']);
    expect(m.registries.deviceTypes.pluginOf('toy')).to.equal('toy');
    expect(m.container.get(DeviceTypeRegistry)).to.equal(m.registries.deviceTypes);
  });

  it('refuses a device type registered by two plugins, naming both', async () => {
    const bus = definePlugin('bus', (ctx) => ctx.busType({ name: 'toy-bus' }));
    const a = definePlugin('a', (ctx) => ctx.deviceType(toyType()));
    const b = definePlugin('b', (ctx) => ctx.deviceType(toyType()));
    const e = await rejection(Machine.create({ plugins: [bus, a, b] }));
    expect(e).to.be.instanceOf(ConfigError);
    expect(e.message).to.equal("device type 'toy' is registered by both plugin 'a' and plugin 'b'");
  });

  it('refuses a duplicate within one plugin, and duplicate bus types', async () => {
    const twice = definePlugin('twice', (ctx) => {
      ctx.busType({ name: 'toy-bus' });
      ctx.deviceType(toyType());
      ctx.deviceType(toyType());
    });
    expect((await rejection(Machine.create({ plugins: [twice] }))).message).to.equal(
      "device type 'toy' is registered twice by plugin 'twice'",
    );
    const sysbus = definePlugin('mine', (ctx) => ctx.busType({ name: 'sysbus' }));
    expect((await rejection(Machine.create({ plugins: [sysbus] }))).message).to.equal(
      "bus type 'sysbus' is registered by both plugin 'core' and plugin 'mine'",
    );
  });

  it('refuses duplicate object types and block drivers', async () => {
    const io = definePlugin('io', (ctx) =>
      ctx.objectType({ name: 'iothread', properties: {}, create: () => ({}) }),
    );
    expect((await rejection(Machine.create({ plugins: [io] }))).message).to.equal(
      "object type 'iothread' is registered by both plugin 'core' and plugin 'io'",
    );
    const d1 = definePlugin('d1', (ctx) => ctx.blockDriver({ name: 'raw' }));
    const d2 = definePlugin('d2', (ctx) => ctx.blockDriver({ name: 'raw', probe: true }));
    expect((await rejection(Machine.create({ plugins: [d1, d2] }))).message).to.equal(
      "block driver 'raw' is registered by both plugin 'd1' and plugin 'd2'",
    );
    const m = await Machine.create({ plugins: [d1] });
    expect(m.blockDrivers()).to.deep.equal(['raw']);
    expect(m.registries.blockDrivers.get('raw')).to.deep.equal({ name: 'raw' });
  });

  it('refuses loading a plugin twice and the reserved name core', async () => {
    const p = definePlugin('p', () => {});
    expect((await rejection(Machine.create({ plugins: [p, p] }))).message).to.equal(
      "plugin 'p' is loaded twice",
    );
    const core = definePlugin('core', () => {});
    expect((await rejection(Machine.create({ plugins: [core] }))).message).to.equal(
      "plugin name 'core' is reserved for the built-in plugin",
    );
    expect(() => definePlugin('', () => {})).to.throw(ConfigError, 'a plugin needs a non-empty name');
  });

  it('a plugin whose dependencies are not loaded before it fails clearly', async () => {
    const a = definePlugin('a', () => {});
    const b = definePlugin('b', () => {}, { dependencies: ['a'] });
    expect((await rejection(Machine.create({ plugins: [b] }))).message).to.equal(
      "plugin 'b' depends on plugin 'a', which is not in the plugin list",
    );
    expect((await rejection(Machine.create({ plugins: [b, a] }))).message).to.equal(
      "plugin 'b' depends on plugin 'a', which must come before it in the plugin list",
    );
    const m = await Machine.create({ plugins: [a, b] });
    expect(m.plugins()).to.deep.equal(['core', 'a', 'b']);
    expect(b.dependencies).to.deep.equal(['a']);
  });

  it('wraps a failing register function with the plugin name and keeps the cause', async () => {
    const cause = new Error('boom');
    const bad = definePlugin('bad', async () => {
      await Promise.resolve();
      throw cause;
    });
    const e = await rejection(Machine.create({ plugins: [bad] }));
    expect(e).to.be.instanceOf(ConfigError);
    expect(e.message).to.equal("plugin 'bad' failed to load: boom");
    expect(e.cause).to.equal(cause);
  });

  it('refuses something that is not a plugin', async () => {
    const notAPlugin = { name: 'x' } as unknown as ReturnType<typeof definePlugin>;
    expect((await rejection(Machine.create({ plugins: [notAPlugin] }))).message).to.equal(
      'plugins[0] is not a plugin (make one with definePlugin)',
    );
  });

  it("plugin B's service gets plugin A's service and the machine injected by type", async () => {
    @injectable()
    class Counter {
      count = 0;
    }
    @injectable()
    class UsesCounter {
      constructor(
        readonly counter: Counter,
        readonly machine: Machine,
        @inject(MACHINE) readonly byToken: Machine,
      ) {}
      bump(): number {
        return ++this.counter.count;
      }
    }
    const a = definePlugin('a', (ctx) => {
      ctx.bind(Counter).toSelf();
    });
    const b = definePlugin(
      'b',
      (ctx) => {
        expect(ctx.plugin).to.equal('b');
        expect(ctx.isBound(Counter)).to.equal(true);
        ctx.bind(UsesCounter).toSelf();
      },
      { dependencies: ['a'] },
    );
    const m = await Machine.create({ plugins: [a, b], name: 'vm1' });
    const user = m.container.get(UsesCounter);
    expect(user.counter).to.equal(m.container.get(Counter)); // singleton per machine
    expect(user.machine).to.equal(m);
    expect(user.byToken).to.equal(m);
    expect(user.bump()).to.equal(1);
    expect(m.container.get(UsesCounter)).to.equal(user);
    const m2 = await Machine.create({ plugins: [a, b] });
    expect(m2.container.get(UsesCounter)).to.not.equal(user);
    expect(m2.name).to.equal('machine');
  });

  it('destroy runs the deactivation of plugin services', async () => {
    const closed: string[] = [];
    @injectable()
    class Service {
      @preDestroy()
      close(): void {
        closed.push('service');
      }
    }
    const p = definePlugin('p', (ctx) => {
      ctx.bind(Service).toSelf();
    });
    const m = await Machine.create({ plugins: [p] });
    m.container.get(Service);
    await m.destroy();
    expect(closed).to.deep.equal(['service']);
    expect(m.destroyed).to.equal(true);
    await m.destroy(); // second call is a no-op
    expect(closed).to.deep.equal(['service']);
  });

  it('uses the clock given, and a main context on it', async () => {
    const clock = new VirtualClock(1000);
    const m = await Machine.create({ clock });
    expect(m.clock).to.equal(clock);
    expect(m.mainContext.clock).to.equal(clock);
    expect(m.mainContext.name).to.equal('main');
    const m2 = await Machine.create();
    expect(m2.clock.kind).to.equal('host');
  });

  describe('type checks when plugins are loaded', () => {
    it('refuses a device type plugging into an unknown bus type', async () => {
      const p = definePlugin('p', (ctx) => ctx.deviceType(toyType()));
      expect((await rejection(Machine.create({ plugins: [p] }))).message).to.equal(
        "device type 'toy' (plugin 'p'): plugs into unknown bus type 'toy-bus'",
      );
    });

    it('refuses a link to an unknown object type', async () => {
      const p = definePlugin('p', (ctx) =>
        ctx.deviceType({
          name: 'd',
          bus: 'sysbus',
          properties: { group: { kind: 'link', target: 'throttle-group' } },
          create: () => new ToyDevice(0),
        }),
      );
      expect((await rejection(Machine.create({ plugins: [p] }))).message).to.equal(
        "device type 'd' (plugin 'p'): property 'group' links to unknown object type 'throttle-group'",
      );
    });

    it('refuses a default that breaks its own rule, reserved names, empty enums, min above max', async () => {
      const cases: [DeviceType['properties'], string][] = [
        [{ n: { kind: 'int', min: 4, default: 2 } }, "default of property 'n' = 2: must be at least 4"],
        [{ id: { kind: 'string' } }, "property name 'id' is reserved"],
        [{ bus: { kind: 'string' } }, "property name 'bus' is reserved"],
        [{ mode: { kind: 'enum', values: [] } }, "enum property 'mode' has no values"],
        [{ n: { kind: 'size', min: 8, max: 4 } }, "property 'n' has min 8 above max 4"],
      ];
      for (const [properties, problem] of cases) {
        const p = definePlugin('p', (ctx) =>
          ctx.deviceType({ name: 'd', bus: 'sysbus', properties, create: () => new ToyDevice(0) }),
        );
        expect((await rejection(Machine.create({ plugins: [p] }))).message).to.equal(
          `device type 'd' (plugin 'p'): ${problem}`,
        );
      }
      const o = definePlugin('o', (ctx) =>
        ctx.objectType({ name: 'thing', properties: { type: { kind: 'string' } }, create: () => ({}) }),
      );
      expect((await rejection(Machine.create({ plugins: [o] }))).message).to.equal(
        "object type 'thing' (plugin 'o'): property name 'type' is reserved",
      );
    });

    it('refuses a contribution without a name', async () => {
      const p = definePlugin('p', (ctx) => ctx.busType({ name: '' }));
      expect((await rejection(Machine.create({ plugins: [p] }))).message).to.equal(
        "plugin 'p' contributes a bus type without a name",
      );
    });
  });
});
