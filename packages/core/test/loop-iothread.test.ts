import { expect } from 'chai';
import { AioContext, HostClock, IOThread, VirtualClock, mainContext } from '../src/index.js';

describe('loop: IOThread and the main context', () => {
  it('an IOThread is a named AioContext with an id', () => {
    const clock = new VirtualClock();
    const io = new IOThread('io0', clock);
    expect(io).to.be.instanceOf(AioContext);
    expect(io.id).to.equal('io0');
    expect(io.name).to.equal('io0');
    expect(io.clock).to.equal(clock);
    let ran = 0;
    io.bh(() => ran++).schedule();
    expect(io.poll()).to.equal(1);
    expect(ran).to.equal(1);
  });

  it('an IOThread without a clock uses a HostClock', () => {
    expect(new IOThread('io1').clock).to.be.instanceOf(HostClock);
  });

  it("mainContext() is a process-wide singleton named 'main' on a HostClock", () => {
    const m = mainContext();
    expect(mainContext()).to.equal(m);
    expect(m.name).to.equal('main');
    expect(m.clock.kind).to.equal('host');
  });

  it("a plain AioContext defaults to the name 'main'", () => {
    expect(new AioContext({ clock: new VirtualClock() }).name).to.equal('main');
  });
});
