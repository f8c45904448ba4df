import { expect } from 'chai';
import {
  ConfigError,
  GuestMemory,
  IOThread,
  Machine,
  VirtualClock,
  defineObjectType,
  definePlugin,
  iothreadObjectType,
} from '../src/index.js';

class Group {
  members = 0;
  deleted = false;
  constructor(
    readonly id: string,
    readonly limit: number,
  ) {}
}

const groupPlugin = definePlugin('groups', (ctx) => {
  ctx.objectType(
    defineObjectType({
      name: 'toy-group',
      properties: { limit: { kind: 'size', required: true } },
      create: (props, octx) => new Group(octx.id, props.limit),
      inUse: (g) => (g.members > 0 ? `${g.members} members` : undefined),
      delete: (g) => {
        g.deleted = true;
      },
    }),
  );
});

describe('machine: objects', () => {
  let m: Machine;
  const clock = new VirtualClock();

  beforeEach(async () => {
    m = await Machine.create({ plugins: [groupPlugin], clock });
  });

  afterEach(async () => {
    await m.destroy();
  });

  it('objectAdd iothread creates an IOThread on the machine clock', () => {
    const io = m.objectAdd<IOThread>({ type: 'iothread', id: 'io0' });
    expect(io).to.be.instanceOf(IOThread);
    expect(io.id).to.equal('io0');
    expect(io.clock).to.equal(clock);
    expect(m.iothread('io0')).to.equal(io);
    expect(m.object('io0')).to.equal(io);
    expect(m.objects().map((o) => [o.id, o.type])).to.deep.equal([['io0', 'iothread']]);
    expect(m.objects()[0].properties).to.deep.equal({
      'poll-max-ns': 32768,
      'poll-grow': 0,
      'poll-shrink': 0,
      'aio-max-batch': 0,
    });
    expect(iothreadObjectType.name).to.equal('iothread');
  });

  it('refuses a duplicate id, leaving the first object in place', () => {
    const io = m.objectAdd({ type: 'iothread', id: 'io0' });
    expect(() => m.objectAdd({ type: 'iothread', id: 'io0' })).to.throw(
      ConfigError,
      "iothread 'io0': object id 'io0' is already in use",
    );
    expect(() => m.objectAdd({ type: 'toy-group', id: 'io0', limit: 1 })).to.throw(
      ConfigError,
      "toy-group 'io0': object id 'io0' is already in use",
    );
    expect(m.object('io0')).to.equal(io);
  });

  it('refuses an unknown type, a missing or malformed id, and bad properties', () => {
    expect(() => m.objectAdd({ type: 'throttle-group', id: 'tg0' })).to.throw(
      ConfigError,
      "unknown object type 'throttle-group' (known: iothread, toy-group)",
    );
    expect(() => m.objectAdd({ type: 'iothread' } as never)).to.throw(
      ConfigError,
      'iothread: an object id is required',
    );
    expect(() => m.objectAdd({ type: 'iothread', id: 'io 0' })).to.throw(
      ConfigError,
      "iothread: invalid object id 'io 0'",
    );
    expect(() => m.objectAdd({ type: 'iothread', id: 'io0', 'poll-max-ns': -1 })).to.throw(
      ConfigError,
      "iothread 'io0': property 'poll-max-ns' = -1: must be at least 0",
    );
    expect(() => m.objectAdd({ type: 'toy-group', id: 'g0' })).to.throw(
      ConfigError,
      "toy-group 'g0': property 'limit' is required",
    );
    expect(m.objects()).to.deep.equal([]);
  });

  it('objectDel deletes, frees the id and emits object-deleted; unknown ids are refused', () => {
    const events: string[] = [];
    m.events.on('object-added', (e) => events.push(`+${e.type}:${e.id}`));
    m.events.on('object-deleted', (e) => events.push(`-${e.type}:${e.id}`));
    const g = m.objectAdd<Group>({ type: 'toy-group', id: 'g0', limit: '1M' });
    expect(g.limit).to.equal(1 << 20);
    m.objectDel('g0');
    expect(g.deleted).to.equal(true);
    expect(m.hasObject('g0')).to.equal(false);
    expect(() => m.object('g0')).to.throw(ConfigError, "no object 'g0'");
    expect(() => m.objectDel('g0')).to.throw(ConfigError, "no object 'g0'");
    m.objectAdd({ type: 'toy-group', id: 'g0', limit: 1 });
    expect(events).to.deep.equal(['+toy-group:g0', '-toy-group:g0', '+toy-group:g0']);
  });

  it('objectDel is refused while the object type reports it in use', () => {
    const g = m.objectAdd<Group>({ type: 'toy-group', id: 'g0', limit: 1 });
    g.members = 2;
    expect(() => m.objectDel('g0')).to.throw(ConfigError, "object 'g0' is in use: 2 members");
    expect(g.deleted).to.equal(false);
    g.members = 0;
    m.objectDel('g0');
    expect(g.deleted).to.equal(true);
  });

  it('iothread() names what is wrong', () => {
    m.objectAdd({ type: 'toy-group', id: 'g0', limit: 1 });
    expect(() => m.iothread('io9')).to.throw(ConfigError, "no iothread 'io9'");
    expect(() => m.iothread('g0')).to.throw(ConfigError, "object 'g0' has type 'toy-group', not 'iothread'");
  });

  it('destroy deletes the objects, last created first', async () => {
    const a = m.objectAdd<Group>({ type: 'toy-group', id: 'a', limit: 1 });
    m.objectAdd({ type: 'iothread', id: 'io0' });
    const order: string[] = [];
    m.events.on('object-deleted', (e) => order.push(e.id));
    await m.destroy();
    expect(order).to.deep.equal(['io0', 'a']);
    expect(a.deleted).to.equal(true);
    expect(() => m.objectAdd({ type: 'iothread', id: 'io1' })).to.throw(
      ConfigError,
      "machine 'machine' is destroyed",
    );
  });
});

describe('machine: guest memory', () => {
  it('owns a GuestMemory (given or a fresh empty one) that devices map their rings in', async () => {
    const fresh = await Machine.create();
    expect(fresh.memory).to.be.instanceOf(GuestMemory);
    expect(fresh.memory.regions).to.have.length(0);
    const memory = new GuestMemory();
    memory.addRegion(0, new ArrayBuffer(4096));
    const given = await Machine.create({ memory });
    expect(given.memory).to.equal(memory);
    given.memory.writeU32(0x10, 0xdeadbeef);
    expect(memory.readU32(0x10)).to.equal(0xdeadbeef);
    await fresh.destroy();
    await given.destroy();
  });
});
