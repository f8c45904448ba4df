import { Errno } from '@vmkit/core';
import { expect } from 'chai';
import type { XenStore } from '../src/index.js';
import { newXen } from './helpers.js';

function recorder(): { events: [string, string][]; cb: (p: string, t: string) => void } {
  const events: [string, string][] = [];
  return { events, cb: (p, t) => events.push([p, t]) };
}

describe('xen-bus: xenstore (InProcessXen)', () => {
  it('read, write, mkdir, directory, rm', () => {
    const { xen } = newXen();
    const xs = xen.store;
    expect(xs.write('/tool/a/b', 'hello')).to.equal(0); // parents created
    expect(xs.read('/tool/a/b')).to.equal('hello');
    expect(xs.read('/tool/a')).to.equal('');
    expect(xs.read('/tool/missing')).to.equal(-Errno.ENOENT);
    expect(xs.mkdir('/tool/a/c')).to.equal(0);
    expect(xs.mkdir('/tool/a/c')).to.equal(0); // exists: fine
    expect(xs.directory('/tool/a')).to.deep.equal(['b', 'c']);
    expect(xs.directory('/nothing')).to.equal(-Errno.ENOENT);
    expect(xs.rm('/tool/a')).to.equal(0);
    expect(xs.read('/tool/a/b')).to.equal(-Errno.ENOENT);
    expect(xs.rm('/tool/a')).to.equal(0); // missing but the parent exists
    expect(xs.rm('/x/y/z')).to.equal(-Errno.ENOENT);
    expect(xs.rm('/')).to.equal(-Errno.EINVAL);
  });

  it('relative paths are relative to /local/domain/<domid>', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    expect(guest.store.read('domid')).to.equal('1');
    expect(xen.store.read('domid')).to.equal('0');
    expect(guest.store.write('data/x', 'v')).to.equal(0);
    expect(xen.store.read('/local/domain/1/data/x')).to.equal('v');
  });

  it('rejects invalid paths and oversized values', () => {
    const { xen } = newXen();
    const xs = xen.store;
    for (const p of ['/a//b', '/a/', '/a b', '/a/b$']) expect(xs.write(p, 'v'), p).to.equal(-Errno.EINVAL);
    expect(xs.write('/big', 'x'.repeat(5000))).to.equal(-Errno.E2BIG);
  });

  it('an unknown transaction id is ENOENT', () => {
    const { xen } = newXen();
    xen.store.write('/t', '1');
    expect(xen.store.read('/t', 4242)).to.equal(-Errno.ENOENT);
    expect(xen.store.transactionEnd(4242)).to.equal(-Errno.ENOENT);
  });

  describe('permissions as a guest sees them', () => {
    it('the guest reads its home but cannot write it; it owns data/', () => {
      const { xen } = newXen();
      const guest = xen.domain(1).store;
      expect(guest.read('/local/domain/1')).to.equal('');
      expect(guest.write('/local/domain/1/name', 'evil')).to.equal(-Errno.EACCES);
      expect(guest.write('data/mine', '1')).to.equal(0);
      expect(guest.getPermissions('data/mine')).to.deep.equal([{ domid: 1, access: 'none' }]);
    });

    it("the guest cannot read or write another domain's or dom0's areas", () => {
      const { xen } = newXen();
      xen.createDomain({ domid: 2 });
      const g1 = xen.domain(1).store;
      expect(g1.read('/local/domain/2/domid')).to.equal(-Errno.EACCES);
      expect(g1.read('/local/domain/2/nothing')).to.equal(-Errno.EACCES); // does not reveal absence
      expect(g1.directory('/local/domain/0')).to.equal(-Errno.EACCES);
      expect(g1.write('/local/domain/0/backend/x', '1')).to.equal(-Errno.EACCES);
      expect(g1.rm('/local/domain/2/domid')).to.equal(-Errno.EACCES);
    });

    it('backend area readable by the frontend but not writable; frontend area writable by both', () => {
      const { xen } = newXen();
      const dom0 = xen.store;
      const be = '/local/domain/0/backend/vtest/1/0';
      const fe = '/local/domain/1/device/vtest/0';
      dom0.write(be, '');
      dom0.setPermissions(be, [
        { domid: 0, access: 'none' },
        { domid: 1, access: 'read' },
      ]);
      dom0.write(`${be}/state`, '2');
      dom0.write(fe, '');
      dom0.setPermissions(fe, [
        { domid: 1, access: 'none' },
        { domid: 0, access: 'both' },
      ]);
      const guest = xen.domain(1).store;
      expect(guest.read(`${be}/state`)).to.equal('2'); // inherited read
      expect(guest.write(`${be}/state`, '4')).to.equal(-Errno.EACCES);
      expect(guest.write(`${be}/new`, '4')).to.equal(-Errno.EACCES);
      expect(guest.rm(be)).to.equal(-Errno.EACCES);
      expect(guest.write(`${fe}/ring-ref`, '8')).to.equal(0);
      expect(dom0.read(`${fe}/ring-ref`)).to.equal('8');
      expect(dom0.write(`${fe}/backend`, be)).to.equal(0);
      // What the guest creates, it owns (first entry), keeping the inherited rest.
      expect(guest.getPermissions(`${fe}/ring-ref`)).to.deep.equal([
        { domid: 1, access: 'none' },
        { domid: 0, access: 'both' },
      ]);
    });

    it('only write access changes permissions; an unprivileged domain cannot give a node away', () => {
      const { xen } = newXen();
      const guest = xen.domain(1).store;
      guest.write('data/n', '1');
      expect(guest.setPermissions('data/n', [{ domid: 1, access: 'read' }])).to.equal(0);
      expect(guest.setPermissions('data/n', [{ domid: 2, access: 'read' }])).to.equal(-Errno.EPERM);
      expect(guest.setPermissions('/local/domain/1', [{ domid: 1, access: 'both' }])).to.equal(-Errno.EACCES);
      expect(guest.setPermissions('data/n', [])).to.equal(-Errno.EINVAL);
      expect(xen.store.setPermissions('/local/domain/1/data/n', [{ domid: 0, access: 'none' }])).to.equal(0);
      expect(guest.read('data/n')).to.equal(-Errno.EACCES);
    });
  });

  describe('watches', () => {
    it('fire once on registration, then on every change at or below the path, with their token', () => {
      const { xen } = newXen();
      const xs = xen.store;
      const { events, cb } = recorder();
      expect(xs.watch('/w', 'tok', cb)).to.equal(0);
      expect(events).to.deep.equal([]); // asynchronous
      xen.flush();
      expect(events).to.deep.equal([['/w', 'tok']]); // even though /w does not exist
      xs.write('/w', 'a');
      xs.write('/w/child/deep', 'b');
      xs.write('/w', 'a'); // same value still fires
      xs.write('/other', 'x');
      xs.write('/wx', 'x'); // not below /w
      xen.flush();
      expect(events.slice(1)).to.deep.equal([
        ['/w', 'tok'],
        ['/w/child/deep', 'tok'],
        ['/w', 'tok'],
      ]);
    });

    it('a write below fires watches on ancestors; creating parents fires once', () => {
      const { xen } = newXen();
      const xs = xen.store;
      const a = recorder();
      const b = recorder();
      xs.watch('/p', 'a', a.cb);
      xs.watch('/p/q/r', 'b', b.cb);
      xen.flush();
      xs.write('/p/q/r/s', '1');
      xen.flush();
      expect(a.events).to.deep.equal([
        ['/p', 'a'],
        ['/p/q/r/s', 'a'],
      ]);
      expect(b.events).to.deep.equal([
        ['/p/q/r', 'b'],
        ['/p/q/r/s', 'b'],
      ]);
    });

    it('rm fires the removed node for watches above, and each removed node for watches on it', () => {
      const { xen } = newXen();
      const xs = xen.store;
      xs.write('/r/a/b', '1');
      const top = recorder();
      const leaf = recorder();
      xs.watch('/r', 't', top.cb);
      xs.watch('/r/a/b', 'l', leaf.cb);
      xen.flush();
      xs.rm('/r/a');
      xen.flush();
      expect(top.events).to.deep.equal([
        ['/r', 't'],
        ['/r/a', 't'],
      ]);
      expect(leaf.events).to.deep.equal([
        ['/r/a/b', 'l'],
        ['/r/a/b', 'l'],
      ]);
    });

    it('permission changes fire; relative watches report relative paths', () => {
      const { xen } = newXen();
      const guest = xen.domain(1).store;
      const { events, cb } = recorder();
      guest.watch('data', 'rel', cb);
      xen.flush();
      guest.write('data/k', 'v');
      guest.setPermissions('data/k', [{ domid: 1, access: 'read' }]);
      xen.flush();
      expect(events).to.deep.equal([
        ['data', 'rel'],
        ['data/k', 'rel'],
        ['data/k', 'rel'],
      ]);
    });

    it('duplicate (path, token) is EEXIST; a second token on the same path fires separately', () => {
      const { xen } = newXen();
      const xs = xen.store;
      const { events, cb } = recorder();
      expect(xs.watch('/d', 't1', cb)).to.equal(0);
      expect(xs.watch('/d', 't1', cb)).to.equal(-Errno.EEXIST);
      expect(xs.watch('/d', 't2', cb)).to.equal(0);
      expect(xs.watch('/bad//path', 't', cb)).to.equal(-Errno.EINVAL);
      xen.flush();
      xs.write('/d', '1');
      xen.flush();
      expect(events).to.deep.equal([
        ['/d', 't1'],
        ['/d', 't2'],
        ['/d', 't1'],
        ['/d', 't2'],
      ]);
    });

    it('unwatch stops delivery, including events already queued; unknown watch is ENOENT', () => {
      const { xen } = newXen();
      const xs = xen.store;
      const { events, cb } = recorder();
      xs.watch('/u', 't', cb);
      xs.write('/u', '1');
      expect(xs.unwatch('/u', 't')).to.equal(0);
      expect(xs.unwatch('/u', 't')).to.equal(-Errno.ENOENT);
      xen.flush();
      expect(events).to.deep.equal([]);
    });

    it('a guest only hears about nodes it may read', () => {
      const { xen } = newXen();
      const guest = xen.domain(1).store;
      const { events, cb } = recorder();
      guest.watch('/local/domain/0', 'spy', cb);
      xen.flush();
      expect(events).to.have.length(1); // the registration event is always sent
      xen.store.write('/local/domain/0/secret', 'x');
      xen.flush();
      expect(events).to.have.length(1);
    });

    it('a throwing callback does not lose the other queued events', () => {
      const { xen } = newXen();
      const xs = xen.store;
      const { events, cb } = recorder();
      xs.watch('/boom', 'b', () => {
        throw new Error('callback bug');
      });
      xs.watch('/ok', 'o', cb);
      expect(() => xen.flush()).to.throw('callback bug');
      xen.flush();
      expect(events).to.deep.equal([['/ok', 'o']]);
    });
  });

  describe('transactions', () => {
    function setup(): { xs: XenStore; flush: () => number } {
      const { xen } = newXen();
      xen.store.write('/t/a', '1');
      xen.store.write('/t/b', '2');
      return { xs: xen.store, flush: () => xen.flush() };
    }

    it('changes are private until commit, then applied and watches fire', () => {
      const { xs, flush } = setup();
      const { events, cb } = recorder();
      xs.watch('/t', 'w', cb);
      flush();
      const tx = xs.transactionStart();
      expect(tx).to.be.greaterThan(0);
      expect(xs.write('/t/a', 'tx', tx)).to.equal(0);
      expect(xs.write('/t/n/new', 'x', tx)).to.equal(0);
      expect(xs.read('/t/a', tx)).to.equal('tx');
      expect(xs.read('/t/a')).to.equal('1');
      expect(xs.read('/t/n/new')).to.equal(-Errno.ENOENT);
      flush();
      expect(events).to.have.length(1);
      expect(xs.transactionEnd(tx)).to.equal(0);
      expect(xs.read('/t/a')).to.equal('tx');
      expect(xs.read('/t/n/new')).to.equal('x');
      flush();
      expect(events.slice(1)).to.deep.equal([
        ['/t/a', 'w'],
        ['/t/n/new', 'w'],
      ]);
    });

    it('EAGAIN when a node the transaction read was changed meanwhile; nothing is applied', () => {
      const { xs } = setup();
      const tx = xs.transactionStart();
      expect(xs.read('/t/a', tx)).to.equal('1');
      xs.write('/t/b', 'x', tx);
      xs.write('/t/a', 'changed'); // someone else
      expect(xs.transactionEnd(tx)).to.equal(-Errno.EAGAIN);
      expect(xs.read('/t/b')).to.equal('2');
    });

    it('EAGAIN when a node the transaction found missing was created meanwhile', () => {
      const { xs } = setup();
      const tx = xs.transactionStart();
      expect(xs.read('/t/c', tx)).to.equal(-Errno.ENOENT);
      xs.write('/t/c', 'now');
      expect(xs.transactionEnd(tx)).to.equal(-Errno.EAGAIN);
    });

    it('commits when only unrelated nodes changed; abort discards', () => {
      const { xs } = setup();
      const tx = xs.transactionStart();
      xs.read('/t/a', tx);
      xs.write('/t/a', 'mine', tx);
      xs.write('/elsewhere', '1');
      expect(xs.transactionEnd(tx)).to.equal(0);
      expect(xs.read('/t/a')).to.equal('mine');

      const tx2 = xs.transactionStart();
      xs.rm('/t/a', tx2);
      expect(xs.transactionEnd(tx2, true)).to.equal(0);
      expect(xs.read('/t/a')).to.equal('mine');
      expect(xs.transactionEnd(tx2)).to.equal(-Errno.ENOENT);
    });

    it('two transactions writing the same node: the second to commit gets EAGAIN, then retries', () => {
      const { xs } = setup();
      const t1 = xs.transactionStart();
      const t2 = xs.transactionStart();
      xs.write('/t/a', 'one', t1);
      xs.write('/t/a', 'two', t2);
      expect(xs.transactionEnd(t1)).to.equal(0);
      expect(xs.transactionEnd(t2)).to.equal(-Errno.EAGAIN);
      const t3 = xs.transactionStart();
      xs.write('/t/a', 'two', t3);
      expect(xs.transactionEnd(t3)).to.equal(0);
      expect(xs.read('/t/a')).to.equal('two');
    });

    it('transactions respect permissions of the connection', () => {
      const { xen } = newXen();
      const guest = xen.domain(1).store;
      const tx = guest.transactionStart();
      expect(guest.write('/local/domain/1/x', '1', tx)).to.equal(-Errno.EACCES);
      expect(guest.write('data/x', '1', tx)).to.equal(0);
      expect(guest.transactionEnd(tx)).to.equal(0);
      expect(guest.read('data/x')).to.equal('1');
    });
  });
});
