import { ConfigError, definePlugin, Errno, Machine, VirtualClock } from '@vmkit/core';
import { expect } from 'chai';
import {
  IN_PROCESS_XEN,
  InProcessXen,
  XEN_EVENT_CHANNELS,
  XEN_FOREIGN_MEMORY,
  XEN_GRANT_TABLES,
  XEN_STORE,
  XenbusState,
  xenBusPlugin,
  type XenStore,
} from '../src/index.js';
import {
  bePath,
  createdWith,
  FakeFrontend,
  fePath,
  newRig,
  toolstackAdd,
  type TestBackend,
} from './vtest-backend.js';

const S = XenbusState;

describe('xen-bus: XenBus and XenDevice', () => {
  it('a toolstack-created backend is enumerated, then driven to Connected and back to Closed by the frontend', async () => {
    const { machine, xen, bus, guest, settle } = await newRig();
    createdWith.clear();
    toolstackAdd(xen.store, 5, { params: 'aio:/disk.img', mode: 'w' });
    await settle();

    const dev = machine.device<TestBackend>('vtest5');
    expect(createdWith.get('5')).to.deep.equal({ params: 'aio:/disk.img', mode: 'w' });
    expect(bus.devices()).to.deep.equal([dev]);
    expect(dev.backendPath).to.equal(bePath(5));
    expect(dev.frontendPath).to.equal(fePath(5));
    expect(dev.backendState).to.equal(S.InitWait);
    expect(xen.store.read(`${bePath(5)}/state`)).to.equal('2');
    expect(xen.store.read(`${bePath(5)}/online`)).to.equal('1');
    expect(xen.store.read(`${bePath(5)}/hotplug-status`)).to.equal('connected');
    expect(xen.store.read(`${bePath(5)}/frontend`)).to.equal(fePath(5));
    expect(xen.store.read(`${bePath(5)}/frontend-id`)).to.equal('1');
    expect(xen.store.read(`${bePath(5)}/feature-test`)).to.equal('1');
    expect(xen.store.read(`${fePath(5)}/backend`)).to.equal(bePath(5));
    expect(xen.store.read(`${fePath(5)}/backend-id`)).to.equal('0');
    expect(xen.store.read(`${fePath(5)}/state`)).to.equal('1');

    const front = new FakeFrontend(guest, 5);
    front.initialise();
    await settle();
    expect(dev.backendState).to.equal(S.Connected);
    expect(front.backendState()).to.equal(S.Connected);
    expect(dev.connects).to.equal(1);
    front.setState(S.Connected);
    await settle();
    expect(dev.connects).to.equal(1); // already connected

    // The ring is shared and the event channel works both ways.
    guest.notify(front.port);
    await settle();
    expect(dev.kicks).to.equal(1);
    expect(front.ringByte()).to.equal(1);
    expect(front.notified).to.equal(1);

    front.setState(S.Closing);
    await settle();
    expect(dev.backendState).to.equal(S.Closing);
    front.setState(S.Closed);
    await settle();
    expect(dev.backendState).to.equal(S.Closed);
    expect(xen.store.read(`${bePath(5)}/state`)).to.equal('6');
    expect(dev.ring).to.equal(undefined);
    expect(guest.isGrantMapped(front.refs[0])).to.equal(false);
    expect(guest.portStatus(front.port)?.kind).to.equal('unbound');
    expect(machine.hasDevice('vtest5')).to.equal(true); // still online: it stays
  });

  it('a frontend re-initialising after Closed gets InitWait, then reconnects', async () => {
    const { machine, xen, guest, settle } = await newRig();
    toolstackAdd(xen.store, 1);
    await settle();
    const dev = machine.device<TestBackend>('vtest1');
    const front = new FakeFrontend(guest, 1);
    front.initialise();
    await settle();
    front.setState(S.Closed);
    await settle();
    expect(dev.backendState).to.equal(S.Closed);
    front.release();

    front.setState(S.Initialising);
    await settle();
    expect(dev.backendState).to.equal(S.InitWait);
    front.initialise(1, 30);
    await settle();
    expect(dev.backendState).to.equal(S.Connected);
    expect(dev.connects).to.equal(2);
    guest.notify(front.port);
    await settle();
    expect(front.ringByte()).to.equal(1);
  });

  it('maps a multi-page ring (ring-page-order) as one contiguous buffer', async () => {
    const { machine, xen, guest, settle } = await newRig();
    toolstackAdd(xen.store, 2);
    await settle();
    const dev = machine.device<TestBackend>('vtest2');
    const front = new FakeFrontend(guest, 2);
    front.initialise(4);
    await settle();
    expect(dev.backendState).to.equal(S.Connected);
    expect(dev.ring!.bytes.length).to.equal(4 * 4096);
    dev.ring!.bytes[3 * 4096 + 1] = 0x5a;
    expect(guest.memory.readU8(front.frames[3] * 4096 + 1)).to.equal(0x5a);
    expect(dev.grants.maxGrants).to.equal(4);
  });

  it('a connect failure (missing ring-ref, ungranted ring) leaves InitWait with lastError; the host is unharmed', async () => {
    const { machine, xen, guest, settle } = await newRig();
    toolstackAdd(xen.store, 3);
    await settle();
    const dev = machine.device<TestBackend>('vtest3');
    const store = guest.store;
    store.write(`${fePath(3)}/event-channel`, '1');
    store.write(`${fePath(3)}/state`, '3');
    await settle();
    expect(dev.backendState).to.equal(S.InitWait);
    expect(dev.lastError?.message).to.match(/failed to read ring-ref/);

    store.write(`${fePath(3)}/ring-ref`, '77'); // never granted
    store.write(`${fePath(3)}/state`, '3');
    await settle();
    expect(dev.backendState).to.equal(S.InitWait);
    expect(dev.lastError?.message).to.match(/map_domain_grant_refs failed: Invalid argument/);

    store.write(`${fePath(3)}/ring-page-order`, '9');
    store.write(`${fePath(3)}/state`, '3');
    await settle();
    expect(dev.lastError?.message).to.match(/invalid ring-page-order \(9\)/);
    store.rm(`${fePath(3)}/ring-page-order`);

    // Bad port: the ring got mapped, so the failed connect must not leave it mapped after disconnect.
    const front = new FakeFrontend(guest, 3);
    front.initialise();
    store.write(`${fePath(3)}/event-channel`, '999');
    store.write(`${fePath(3)}/state`, '3');
    await settle();
    expect(dev.lastError?.message).to.match(/bind_interdomain failed/);
    expect(dev.backendState).to.equal(S.InitWait);

    // The guest fixes its keys and signals again.
    store.write(`${fePath(3)}/event-channel`, String(front.port));
    store.write(`${fePath(3)}/state`, '3');
    await settle();
    expect(dev.backendState).to.equal(S.Connected);
    expect(machine.hasDevice('vtest3')).to.equal(true);
  });

  it('unplug by the toolstack (online=0, state=Closing) with a connected frontend: closes, then the bus destroys the device', async () => {
    const { machine, xen, bus, guest, settle } = await newRig();
    const watchesBefore = xen.watchCount;
    toolstackAdd(xen.store, 4);
    await settle();
    const dev = machine.device<TestBackend>('vtest4');
    expect(xen.watchCount).to.equal(watchesBefore + 3);
    const front = new FakeFrontend(guest, 4);
    front.initialise();
    await settle();
    expect(dev.backendState).to.equal(S.Connected);

    const tx = xen.store.transactionStart();
    xen.store.write(`${bePath(4)}/online`, '0', tx);
    xen.store.write(`${bePath(4)}/state`, '5', tx);
    expect(xen.store.transactionEnd(tx)).to.equal(0);
    await settle();
    expect(dev.backendState).to.equal(S.Closing);
    expect(dev.online).to.equal(false);
    expect(machine.hasDevice('vtest4')).to.equal(true); // waits for the frontend

    front.setState(S.Closing);
    await settle();
    front.setState(S.Closed);
    await settle();
    expect(machine.hasDevice('vtest4')).to.equal(false);
    expect(bus.devices()).to.deep.equal([]);
    expect(xen.store.read(bePath(4))).to.equal(-Errno.ENOENT);
    expect(xen.store.read(fePath(4))).to.equal(-Errno.ENOENT);
    expect(xen.watchCount).to.equal(watchesBefore);
    expect(guest.isGrantMapped(front.refs[0])).to.equal(false);
  });

  it('unplugRequest with no active frontend closes at once and the device goes away', async () => {
    const { machine, xen, bus, settle } = await newRig();
    toolstackAdd(xen.store, 6);
    await settle();
    const dev = machine.device<TestBackend>('vtest6');
    expect(bus.unplugRequest(dev)).to.equal(0);
    expect(xen.store.read(`${bePath(6)}/online`)).to.equal('0');
    await settle();
    expect(machine.hasDevice('vtest6')).to.equal(false);
    expect(xen.store.read(bePath(6))).to.equal(-Errno.ENOENT);
  });

  it('enumeration ignores entries that are offline or not Initialising', async () => {
    const { machine, xen, settle } = await newRig();
    const xs = xen.store;
    xs.write(`${bePath(7)}/online`, '0');
    xs.write(`${bePath(7)}/state`, '1');
    xs.write(`${bePath(8)}/online`, '1');
    xs.write(`${bePath(8)}/state`, '4');
    await settle();
    expect(machine.hasDevice('vtest7')).to.equal(false);
    expect(machine.hasDevice('vtest8')).to.equal(false);
    xs.write(`${bePath(7)}/online`, '1');
    await settle();
    expect(machine.hasDevice('vtest7')).to.equal(true);
  });

  it('device_add by hand creates both areas with the right permissions; device_del removes them and the watches', async () => {
    const { machine, xen, bus, guest, settle } = await newRig();
    const watchesBefore = xen.watchCount;
    const dev = await machine.deviceAdd<TestBackend>({ type: 'vtest', id: 'manual', devid: 9 });
    await settle();
    expect(dev.backendState).to.equal(S.InitWait);
    expect(xen.store.getPermissions(bePath(9))).to.deep.equal([
      { domid: 0, access: 'none' },
      { domid: 1, access: 'read' },
    ]);
    expect(xen.store.getPermissions(fePath(9))).to.deep.equal([
      { domid: 1, access: 'none' },
      { domid: 0, access: 'both' },
    ]);
    const gs: XenStore = guest.store;
    expect(gs.read(`${bePath(9)}/state`)).to.equal('2');
    expect(gs.write(`${bePath(9)}/state`, '4')).to.equal(-Errno.EACCES); // the guest cannot write the backend area
    expect(gs.write(`${fePath(9)}/ring-ref`, '8')).to.equal(0);
    expect(xen.watchCount).to.equal(watchesBefore + 3);

    const front = new FakeFrontend(guest, 9);
    front.initialise();
    await settle();
    expect(dev.backendState).to.equal(S.Connected);

    await machine.deviceDel('manual');
    await settle();
    expect(dev.disconnects).to.be.greaterThan(0);
    expect(xen.watchCount).to.equal(watchesBefore);
    expect(xen.store.read(bePath(9))).to.equal(-Errno.ENOENT);
    expect(xen.store.read(fePath(9))).to.equal(-Errno.ENOENT);
    expect(guest.isGrantMapped(front.refs[0])).to.equal(false);
    expect(guest.portStatus(front.port)?.kind).to.equal('unbound');
    expect(bus.devices()).to.deep.equal([]);
    // The same id (and devid) can be added again.
    await machine.deviceAdd({ type: 'vtest', id: 'manual', devid: 9 });
  });

  it('refuses a second device on the same backend path, and a frontend-id out of range', async () => {
    const { machine } = await newRig();
    await machine.deviceAdd({ type: 'vtest', id: 'a', devid: 1 });
    let err: unknown;
    try {
      await machine.deviceAdd({ type: 'vtest', id: 'b', devid: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    expect(machine.hasDevice('b')).to.equal(false);
    // The failed add left the first device's areas alone.
    expect(machine.device<TestBackend>('a').backendState).to.equal(S.InitWait);
    expect(machine.device<TestBackend>('a').store.read(`${bePath(1)}/state`)).to.equal('2');
    let err2: unknown;
    try {
      await machine.deviceAdd({ type: 'vtest', id: 'c', devid: 2, 'frontend-id': 0x7ff0 });
    } catch (e) {
      err2 = e;
    }
    expect(String(err2)).to.match(/frontend-id/);
  });

  it('deleting the bridge deletes its devices and stops enumeration', async () => {
    const { machine, xen, settle } = await newRig();
    toolstackAdd(xen.store, 1);
    await settle();
    expect(machine.hasDevice('vtest1')).to.equal(true);
    await machine.deviceDel('xen');
    await settle();
    expect(machine.hasDevice('vtest1')).to.equal(false);
    expect(xen.watchCount).to.equal(0);
  });

  it('the plugin binds the four interfaces to the in-process hypervisor by default', async () => {
    const machine = await Machine.create({ plugins: [xenBusPlugin], clock: new VirtualClock() });
    const xen = machine.container.get<InProcessXen>(IN_PROCESS_XEN);
    expect(machine.container.get(XEN_STORE)).to.equal(xen.store);
    expect(machine.container.get(XEN_EVENT_CHANNELS)).to.equal(xen.eventChannels);
    expect(machine.container.get(XEN_GRANT_TABLES)).to.equal(xen.grantTables);
    expect(machine.container.get(XEN_FOREIGN_MEMORY)).to.equal(xen.foreignMemory);
    expect(xen.context).to.equal(machine.mainContext);
    expect(machine.busTypes()).to.include('xen-bus');
  });

  it('other implementations bound before the plugin replace the in-process ones', async () => {
    const other = new InProcessXen();
    const custom = definePlugin('custom-xen', (ctx) => {
      ctx.bind(XEN_STORE).toConstantValue(other.store);
      ctx.bind(XEN_EVENT_CHANNELS).toConstantValue(other.eventChannels);
      ctx.bind(XEN_GRANT_TABLES).toConstantValue(other.grantTables);
      ctx.bind(XEN_FOREIGN_MEMORY).toConstantValue(other.foreignMemory);
    });
    const machine = await Machine.create({ plugins: [custom, xenBusPlugin], clock: new VirtualClock() });
    expect(machine.container.get(XEN_STORE)).to.equal(other.store);
    expect(machine.container.get(XEN_GRANT_TABLES)).to.equal(other.grantTables);
  });
});
