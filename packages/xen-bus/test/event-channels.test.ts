import { AioContext, Errno, VirtualClock } from '@vmkit/core';
import { expect } from 'chai';
import { ESRCH, type XenEventChannelPort } from '../src/index.js';
import { newXen } from './helpers.js';

describe('xen-bus: event channels (InProcessXen)', () => {
  it('binds to an unbound port the guest offered and notifies both ways', () => {
    const { xen, ctx } = newXen();
    const guest = xen.domain(1);
    const gport = guest.allocUnboundPort(0);
    expect(guest.portStatus(gport)).to.deep.equal({ kind: 'unbound', remoteDomid: 0, remotePort: 0 });

    const port = xen.eventChannels.bindInterdomain(1, gport) as XenEventChannelPort;
    expect(port).to.not.be.a('number');
    expect(port.remoteDomid).to.equal(1);
    expect(port.remotePort).to.equal(gport);
    expect(guest.portStatus(gport)).to.deep.equal({
      kind: 'interdomain',
      remoteDomid: 0,
      remotePort: port.localPort,
    });

    const seen: number[] = [];
    port.setHandler(ctx, (p) => seen.push(p.localPort));
    expect(guest.notify(gport)).to.equal(0);
    expect(guest.notify(gport)).to.equal(0);
    expect(seen).to.deep.equal([]); // never synchronous
    xen.flush();
    expect(seen).to.deep.equal([port.localPort]); // two notifications before dispatch: one call

    expect(port.notify()).to.equal(0);
    expect(guest.isPortPending(gport)).to.equal(true);
    expect(guest.testAndClearPort(gport)).to.equal(true);
    expect(guest.testAndClearPort(gport)).to.equal(false);
  });

  it('delivers guest-side notifications to a guest port handler', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    const gport = guest.allocUnboundPort(0);
    const port = xen.eventChannels.bindInterdomain(1, gport) as XenEventChannelPort;
    const got: number[] = [];
    expect(guest.setPortHandler(gport, (p) => got.push(p))).to.equal(0);
    port.notify();
    xen.flush();
    expect(got).to.deep.equal([gport]);
    expect(guest.setPortHandler(9999, () => {})).to.equal(-Errno.EINVAL);
  });

  it('refuses bad ports and unknown domains', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    expect(xen.eventChannels.bindInterdomain(7, 1)).to.equal(-ESRCH);
    expect(xen.eventChannels.bindInterdomain(1, 4242)).to.equal(-Errno.EINVAL);
    // A port offered to another domain cannot be bound by dom0.
    xen.createDomain({ domid: 2 });
    const forTwo = guest.allocUnboundPort(2);
    expect(xen.eventChannels.bindInterdomain(1, forTwo)).to.equal(-Errno.EINVAL);
    // Already bound: not unbound any more.
    const gport = guest.allocUnboundPort(0);
    expect(xen.eventChannels.bindInterdomain(1, gport)).to.not.be.a('number');
    expect(xen.eventChannels.bindInterdomain(1, gport)).to.equal(-Errno.EINVAL);
    expect(guest.notify(31337)).to.equal(-Errno.EINVAL);
    expect(guest.closePort(31337)).to.equal(-Errno.EINVAL);
  });

  it('keeps notifications pending while detached (ctx null) and delivers them on re-attach', async () => {
    const { xen, ctx } = newXen();
    const guest = xen.domain(1);
    const gport = guest.allocUnboundPort(0);
    const port = xen.eventChannels.bindInterdomain(1, gport) as XenEventChannelPort;
    let calls = 0;
    port.setHandler(ctx, () => calls++);
    port.setHandler(null);
    expect(port.context).to.equal(null);
    guest.notify(gport);
    xen.flush();
    await new Promise((r) => setImmediate(r));
    expect(calls).to.equal(0);

    // Re-attach in another context keeping the handler: the pending notification is delivered there.
    const io = new AioContext({ name: 'io', clock: new VirtualClock() });
    port.setHandler(io);
    expect(port.context).to.equal(io);
    xen.flush();
    expect(calls).to.equal(0);
    io.poll();
    expect(calls).to.equal(1);
    io.poll();
    expect(calls).to.equal(1);
    // Delivered means consumed: moving the port again does not replay it.
    port.setHandler(ctx);
    xen.flush();
    expect(calls).to.equal(1);
  });

  it('notifications before any handler is attached are delivered on attach', () => {
    const { xen, ctx } = newXen();
    const guest = xen.domain(1);
    const gport = guest.allocUnboundPort(0);
    const port = xen.eventChannels.bindInterdomain(1, gport) as XenEventChannelPort;
    guest.notify(gport);
    let calls = 0;
    port.setHandler(ctx, () => calls++);
    xen.flush();
    expect(calls).to.equal(1);
  });

  it('unbind closes the port: the guest end goes back to unbound and notify fails', () => {
    const { xen, ctx } = newXen();
    const guest = xen.domain(1);
    const gport = guest.allocUnboundPort(0);
    const port = xen.eventChannels.bindInterdomain(1, gport) as XenEventChannelPort;
    let calls = 0;
    port.setHandler(ctx, () => calls++);
    expect(port.unbind()).to.equal(0);
    expect(port.closed).to.equal(true);
    expect(port.unbind()).to.equal(-Errno.EINVAL);
    expect(port.notify()).to.equal(-Errno.EINVAL);
    expect(guest.portStatus(gport)?.kind).to.equal('unbound');
    expect(guest.notify(gport)).to.equal(0); // dropped, as Xen does for an unbound port
    xen.flush();
    expect(calls).to.equal(0);
    // The guest may offer the port again.
    expect(xen.eventChannels.bindInterdomain(1, gport)).to.not.be.a('number');
  });

  it('a guest closing its end leaves the backend port bound to nothing', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    const gport = guest.allocUnboundPort(0);
    const port = xen.eventChannels.bindInterdomain(1, gport) as XenEventChannelPort;
    expect(guest.closePort(gport)).to.equal(0);
    expect(port.notify()).to.equal(0);
    expect(guest.isPortPending(gport)).to.equal(false);
  });
});
