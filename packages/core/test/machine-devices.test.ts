import { expect } from 'chai';
import {
  BLOCK_LAYER,
  ConfigError,
  Machine,
  PropertyError,
  defineDeviceType,
  definePlugin,
  type BlockLayerService,
  type Device,
  type DeviceContext,
  type DeviceInfo,
} from '../src/index.js';
import { rejection } from './helpers/rejection.js';

/** Everything the toy devices do, in order. */
let log: string[] = [];

class ToyDevice implements Device {
  constructor(
    readonly id: string,
    readonly failAt: string,
    readonly realizeGate?: Promise<void>,
  ) {}
  async realize(): Promise<void> {
    if (this.realizeGate) await this.realizeGate;
    if (this.failAt === 'realize') throw new Error(`${this.id}: realize failed`);
    log.push(`realize ${this.id}`);
  }
  unrealize(): void {
    log.push(`unrealize ${this.id}`);
  }
  reset(): void {
    log.push(`reset ${this.id}`);
  }
}

/** Resolves realize of the next 'toy' device created with gate=true. */
let gate: { promise: Promise<void>; open: () => void } | undefined;

const toyType = defineDeviceType({
  name: 'toy',
  bus: 'toy-bus',
  properties: {
    size: { kind: 'size', default: 4096 },
    fail: { kind: 'enum', values: ['none', 'create', 'realize'], default: 'none' },
    gate: { kind: 'bool', default: false },
  },
  create(props, ctx) {
    // props are typed from the schema: size is a number, fail a union of the enum values.
    const size: number = props.size;
    const fail: 'none' | 'create' | 'realize' = props.fail;
    if (fail === 'create') {
      ctx.createBus('toy-bus');
      throw new Error('create failed');
    }
    log.push(`create ${ctx.id} size=${size} bus=${ctx.bus?.name ?? 'none'}`);
    if (fail === 'realize') ctx.createBus('toy-bus');
    return new ToyDevice(ctx.id, fail, props.gate ? gate?.promise : undefined);
  },
});

/** A controller on sysbus that provides a toy bus (two slots) with plug hooks. */
const hostType = defineDeviceType({
  name: 'toy-host',
  bus: 'sysbus',
  properties: {
    refuse: { kind: 'bool', default: false },
    buses: { kind: 'int', min: 1, max: 3, default: 1 },
  },
  create(props, ctx: DeviceContext) {
    for (let i = 0; i < props.buses; i++) {
      ctx.createBus('toy-bus', {
        hooks: {
          plug: (child: DeviceInfo) => {
            if (props.refuse) throw new Error(`${ctx.id} refuses ${child.id}`);
            log.push(`plug ${child.id} into ${ctx.id}`);
          },
          unplug: (child: DeviceInfo) => log.push(`unplug ${child.id} from ${ctx.id}`),
        },
      });
    }
    return new ToyDevice(ctx.id, 'none');
  },
});

const diskType = defineDeviceType({
  name: 'toy-disk',
  bus: null,
  properties: {
    drive: { kind: 'link', target: 'blockdev', required: true },
    iothread: { kind: 'link', target: 'iothread' },
  },
  create: (_props, ctx) => new ToyDevice(ctx.id, 'none'),
});

const toyPlugin = definePlugin('toy', (ctx) => {
  ctx.busType({ name: 'toy-bus', maxDevices: 2 });
  ctx.busType({ name: 'lonely-bus', maxDevices: 1 });
  ctx.deviceType(toyType);
  ctx.deviceType(hostType);
  ctx.deviceType(diskType);
  ctx.deviceType({
    name: 'lonely',
    bus: 'lonely-bus',
    properties: {},
    create: (_p, c) => new ToyDevice(c.id, 'none'),
  });
});

const fakeBlockLayer: BlockLayerService = {
  blockdevAdd: () => Promise.resolve(undefined),
  blockdevDel: () => Promise.resolve(),
  blockdevReopen: () => Promise.resolve(),
  hasBlockdev: (id) => id === 'disk0',
  blockBackend: (id) => ({ id }),
};
const fakeBlockPlugin = definePlugin('fake-block', (ctx) => {
  ctx.bind<BlockLayerService>(BLOCK_LAYER).toConstantValue(fakeBlockLayer);
});

/** Ids of devices, bus names and bus children: what "leaves the machine unchanged" compares. */
function snapshot(m: Machine): string {
  const buses = m.buses().map((b) => `${b.name}[${b.children.map((c) => c.id).join(',')}]`);
  return `${m
    .devices()
    .map((d) => d.id)
    .join(',')} | ${buses.join(' ')}`;
}

describe('machine: devices and buses', () => {
  let m: Machine;

  beforeEach(async () => {
    log = [];
    gate = undefined;
    m = await Machine.create({ plugins: [toyPlugin, fakeBlockPlugin] });
  });

  afterEach(async () => {
    await m.destroy();
  });

  it('has a system bus named sysbus', () => {
    const sysbus = m.bus('sysbus');
    expect(sysbus.type.name).to.equal('sysbus');
    expect(sysbus.owner).to.equal(null);
    expect(sysbus.maxDevices).to.equal(Infinity);
    expect(m.buses().map((b) => b.name)).to.deep.equal(['sysbus']);
  });

  it('creates and realizes a device on the bus it asks for, and reports it', async () => {
    const added: string[] = [];
    m.events.on('device-added', (info) => added.push(`${info.id}:${info.state}`));
    await m.deviceAdd({ type: 'toy-host', id: 'host' });
    expect(m.bus('host.0').owner).to.equal('host');
    expect(m.bus('host.0').type.name).to.equal('toy-bus');
    const dev = await m.deviceAdd({ type: 'toy', id: 't0', size: '64K' });
    expect(log).to.deep.equal([
      'realize host',
      'create t0 size=65536 bus=host.0',
      'realize t0',
      'plug t0 into host',
    ]);
    const info = m.deviceInfo('t0');
    expect(info.device).to.equal(dev);
    expect(info.type).to.equal('toy');
    expect(info.state).to.equal('realized');
    expect(info.bus?.name).to.equal('host.0');
    expect(info.properties).to.deep.equal({ size: 65536, fail: 'none', gate: false });
    expect(m.deviceInfo('host').buses.map((b) => b.name)).to.deep.equal(['host.0']);
    expect(m.devices().map((d) => d.id)).to.deep.equal(['host', 't0']);
    expect(added).to.deep.equal(['host:realized', 't0:realized']);
    expect(m.hasDevice('t0')).to.equal(true);
  });

  it('lists the known types for an unknown type', async () => {
    const e = await rejection(m.deviceAdd({ type: 'virtio-blk', id: 'vda' }));
    expect(e).to.be.instanceOf(ConfigError);
    expect(e.message).to.equal("unknown device type 'virtio-blk' (known: lonely, toy, toy-disk, toy-host)");
  });

  it('requires a well-formed id and refuses a duplicate one', async () => {
    expect((await rejection(m.deviceAdd({ type: 'toy-host' } as never))).message).to.equal(
      'toy-host: a device id is required',
    );
    expect((await rejection(m.deviceAdd({ type: 'toy-host', id: '0host' }))).message).to.equal(
      "toy-host: invalid device id '0host' (ids start with a letter and contain only letters, digits, '-', '.' and '_')",
    );
    expect((await rejection(m.deviceAdd({ type: 'toy-host', id: 42 } as never))).message).to.match(
      /^toy-host: invalid device id 42 /,
    );
    await m.deviceAdd({ type: 'toy-host', id: 'host' });
    const before = snapshot(m);
    const e = await rejection(m.deviceAdd({ type: 'toy-host', id: 'host' }));
    expect(e.message).to.equal("toy-host 'host': device id 'host' is already in use");
    expect(snapshot(m)).to.equal(before);
  });

  it('validates properties before creating anything', async () => {
    await m.deviceAdd({ type: 'toy-host', id: 'host' });
    const before = snapshot(m);
    log = [];
    const e = await rejection(m.deviceAdd({ type: 'toy', id: 't0', size: '1X' }));
    expect(e).to.be.instanceOf(PropertyError);
    expect(e.message).to.equal(
      "toy 't0': property 'size' = '1X': must be a byte count with an optional K, M, G, T, P or E suffix",
    );
    expect((await rejection(m.deviceAdd({ type: 'toy', id: 't0', colour: 'red' }))).message).to.equal(
      "toy 't0': unknown property 'colour' (known: size, fail, gate)",
    );
    expect(log).to.deep.equal([]);
    expect(snapshot(m)).to.equal(before);
  });

  describe('bus selection', () => {
    it('uses the bus named, or the first bus of the type with room', async () => {
      await m.deviceAdd({ type: 'toy-host', id: 'h1' });
      await m.deviceAdd({ type: 'toy-host', id: 'h2', buses: 2 });
      await m.deviceAdd({ type: 'toy', id: 'a', bus: 'h2.1' });
      await m.deviceAdd({ type: 'toy', id: 'b' });
      await m.deviceAdd({ type: 'toy', id: 'c' });
      await m.deviceAdd({ type: 'toy', id: 'd' });
      expect(snapshot(m)).to.equal('h1,h2,a,b,c,d | sysbus[h1,h2] h1.0[b,c] h2.0[d] h2.1[a]');
      expect(m.bus('h1.0').full).to.equal(true);
    });

    it('fails for a bus that does not exist, leaving the machine unchanged', async () => {
      await m.deviceAdd({ type: 'toy-host', id: 'host' });
      const before = snapshot(m);
      expect((await rejection(m.deviceAdd({ type: 'toy', id: 't', bus: 'host.7' }))).message).to.equal(
        "toy 't': no bus 'host.7'",
      );
      expect(snapshot(m)).to.equal(before);
    });

    it('fails for a bus of another type', async () => {
      expect((await rejection(m.deviceAdd({ type: 'toy', id: 't', bus: 'sysbus' }))).message).to.equal(
        "toy 't': bus 'sysbus' is a 'sysbus' bus, not 'toy-bus'",
      );
    });

    it('fails for a full bus, named or chosen, leaving the machine unchanged', async () => {
      await m.deviceAdd({ type: 'toy-host', id: 'host' });
      await m.deviceAdd({ type: 'toy', id: 'a' });
      await m.deviceAdd({ type: 'toy', id: 'b' });
      const before = snapshot(m);
      log = [];
      expect((await rejection(m.deviceAdd({ type: 'toy', id: 'c', bus: 'host.0' }))).message).to.equal(
        "toy 'c': bus 'host.0' is full (2 devices)",
      );
      expect((await rejection(m.deviceAdd({ type: 'toy', id: 'c' }))).message).to.equal(
        "toy 'c': bus 'host.0' is full (2 devices)",
      );
      expect(log).to.deep.equal([]);
      expect(snapshot(m)).to.equal(before);
      m.createBus('lonely-bus', { name: 'solo' });
      await m.deviceAdd({ type: 'lonely', id: 'l1' });
      expect((await rejection(m.deviceAdd({ type: 'lonely', id: 'l2' }))).message).to.equal(
        "lonely 'l2': bus 'solo' is full (1 device)",
      );
    });

    it('fails when no bus of the type exists', async () => {
      expect((await rejection(m.deviceAdd({ type: 'toy', id: 't' }))).message).to.equal(
        "toy 't': no 'toy-bus' bus to plug into",
      );
      expect(m.devices()).to.deep.equal([]);
    });

    it('refuses a bus for a device type that plugs into none', async () => {
      expect(
        (await rejection(m.deviceAdd({ type: 'toy-disk', id: 'd', drive: 'disk0', bus: 'sysbus' }))).message,
      ).to.equal("toy-disk 'd': device type 'toy-disk' does not plug into a bus");
    });

    it('machine buses: default names, duplicates and unknown types are refused', () => {
      expect(m.createBus('toy-bus').name).to.equal('toy-bus.0');
      expect(m.createBus('toy-bus').name).to.equal('toy-bus.1');
      expect(() => m.createBus('toy-bus', { name: 'sysbus' })).to.throw(
        ConfigError,
        "bus 'sysbus' already exists",
      );
      expect(() => m.createBus('pci')).to.throw(
        ConfigError,
        "unknown bus type 'pci' (known: lonely-bus, sysbus, toy-bus)",
      );
      expect(() => m.bus('pci.0')).to.throw(ConfigError, "no bus 'pci.0'");
    });
  });

  describe('failures leave no trace', () => {
    it('a realize that throws frees the id, the bus slot and the buses the device made', async () => {
      await m.deviceAdd({ type: 'toy-host', id: 'host' });
      await m.deviceAdd({ type: 'toy', id: 'a' });
      const before = snapshot(m);
      const e = await rejection(m.deviceAdd({ type: 'toy', id: 'b', fail: 'realize' }));
      expect(e.message).to.equal('b: realize failed');
      expect(snapshot(m)).to.equal(before);
      expect(m.hasDevice('b')).to.equal(false);
      await m.deviceAdd({ type: 'toy', id: 'b' });
      expect(m.bus('host.0').children.map((c) => c.id)).to.deep.equal(['a', 'b']);
    });

    it('a create that throws removes the buses it made', async () => {
      await m.deviceAdd({ type: 'toy-host', id: 'host' });
      const before = snapshot(m);
      expect((await rejection(m.deviceAdd({ type: 'toy', id: 'x', fail: 'create' }))).message).to.equal(
        'create failed',
      );
      expect(snapshot(m)).to.equal(before);
    });

    it('a bus owner refusing the plug unrealizes the device and leaves no trace', async () => {
      await m.deviceAdd({ type: 'toy-host', id: 'host', refuse: true });
      const before = snapshot(m);
      log = [];
      expect((await rejection(m.deviceAdd({ type: 'toy', id: 'x' }))).message).to.equal('host refuses x');
      expect(log).to.deep.equal(['create x size=4096 bus=host.0', 'realize x', 'unrealize x']);
      expect(snapshot(m)).to.equal(before);
    });

    it('the id and slot are held while realize runs, and deleting then is refused', async () => {
      await m.deviceAdd({ type: 'toy-host', id: 'host' });
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      gate = { promise, open };
      const pending = m.deviceAdd({ type: 'toy', id: 'slow', gate: true });
      expect(m.deviceInfo('slow').state).to.equal('realizing');
      expect((await rejection(m.deviceAdd({ type: 'toy', id: 'slow' }))).message).to.equal(
        "toy 'slow': device id 'slow' is already in use",
      );
      expect((await rejection(m.deviceDel('slow'))).message).to.equal(
        "device 'slow' is still being realized",
      );
      open();
      await pending;
      expect(m.deviceInfo('slow').state).to.equal('realized');
    });
  });

  describe('deviceDel', () => {
    it('unrealizes, frees the id and the slot, emits device-deleted; the id can be reused', async () => {
      const deleted: string[] = [];
      m.events.on('device-deleted', (e) => deleted.push(`${e.type}:${e.id}`));
      await m.deviceAdd({ type: 'toy-host', id: 'host' });
      await m.deviceAdd({ type: 'toy', id: 'a' });
      await m.deviceAdd({ type: 'toy', id: 'b' });
      log = [];
      await m.deviceDel('a');
      expect(log).to.deep.equal(['unplug a from host', 'unrealize a']);
      expect(deleted).to.deep.equal(['toy:a']);
      expect(m.hasDevice('a')).to.equal(false);
      expect(() => m.device('a')).to.throw(ConfigError, "no device 'a'");
      expect(m.bus('host.0').full).to.equal(false);
      await m.deviceAdd({ type: 'toy', id: 'a' });
      expect(m.bus('host.0').children.map((c) => c.id)).to.deep.equal(['b', 'a']);
    });

    it('deletes the devices on the buses of a device first, then its buses', async () => {
      await m.deviceAdd({ type: 'toy-host', id: 'host' });
      await m.deviceAdd({ type: 'toy', id: 'a' });
      await m.deviceAdd({ type: 'toy', id: 'b' });
      const deleted: string[] = [];
      m.events.on('device-deleted', (e) => deleted.push(e.id));
      log = [];
      await m.deviceDel('host');
      expect(log).to.deep.equal([
        'unplug b from host',
        'unrealize b',
        'unplug a from host',
        'unrealize a',
        'unrealize host',
      ]);
      expect(deleted).to.deep.equal(['b', 'a', 'host']);
      expect(snapshot(m)).to.equal(' | sysbus[]');
      await m.deviceAdd({ type: 'toy-host', id: 'host' });
      expect(m.bus('host.0').children).to.deep.equal([]);
    });

    it('fails for an unknown id', async () => {
      expect((await rejection(m.deviceDel('nope'))).message).to.equal("no device 'nope'");
    });
  });

  describe('links', () => {
    it('checks blockdev links through the block layer and object links against objects of the type', async () => {
      expect((await rejection(m.deviceAdd({ type: 'toy-disk', id: 'd', drive: 'disk9' }))).message).to.equal(
        "toy-disk 'd': property 'drive' = 'disk9': no blockdev 'disk9'",
      );
      expect(
        (await rejection(m.deviceAdd({ type: 'toy-disk', id: 'd', drive: 'disk0', iothread: 'io9' })))
          .message,
      ).to.equal("toy-disk 'd': property 'iothread' = 'io9': no object 'io9'");
      m.objectAdd({ type: 'iothread', id: 'io0' });
      await m.deviceAdd({ type: 'toy-disk', id: 'd', drive: 'disk0', iothread: 'io0' });
      expect(m.deviceInfo('d').properties).to.deep.equal({ drive: 'disk0', iothread: 'io0' });
    });

    it('an object linked by a device cannot be deleted until the device is', async () => {
      m.objectAdd({ type: 'iothread', id: 'io0' });
      await m.deviceAdd({ type: 'toy-disk', id: 'd1', drive: 'disk0', iothread: 'io0' });
      await m.deviceAdd({ type: 'toy-disk', id: 'd2', drive: 'disk0', iothread: 'io0' });
      expect(() => m.objectDel('io0')).to.throw(ConfigError, "object 'io0' is in use by device 'd1', 'd2'");
      await m.deviceDel('d1');
      await m.deviceDel('d2');
      m.objectDel('io0');
      expect(m.hasObject('io0')).to.equal(false);
    });

    it('without a block layer, a blockdev link says which plugin is missing', async () => {
      const bare = await Machine.create({ plugins: [toyPlugin] });
      expect(
        (await rejection(bare.deviceAdd({ type: 'toy-disk', id: 'd', drive: 'disk0' }))).message,
      ).to.equal(
        "toy-disk 'd': property 'drive' = 'disk0': no blockdev 'disk0' (no block layer: load blockLayerPlugin)",
      );
      await bare.destroy();
    });
  });

  it('reset resets every realized device in the order they were added', async () => {
    let resets = 0;
    m.events.on('reset', () => resets++);
    await m.deviceAdd({ type: 'toy-host', id: 'host' });
    await m.deviceAdd({ type: 'toy', id: 'a' });
    log = [];
    m.reset();
    expect(log).to.deep.equal(['reset host', 'reset a']);
    expect(resets).to.equal(1);
  });

  it('destroy unrealizes every device, last added first, and the machine refuses further use', async () => {
    await m.deviceAdd({ type: 'toy-host', id: 'host' });
    await m.deviceAdd({ type: 'toy', id: 'a' });
    await m.deviceAdd({ type: 'toy-disk', id: 'd', drive: 'disk0' });
    log = [];
    await m.destroy();
    expect(log).to.deep.equal(['unrealize d', 'unplug a from host', 'unrealize a', 'unrealize host']);
    expect(m.devices()).to.deep.equal([]);
    expect((await rejection(m.deviceAdd({ type: 'toy-host', id: 'h' }))).message).to.equal(
      "machine 'machine' is destroyed",
    );
  });
});
