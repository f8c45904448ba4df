/**
 * The pop hot path reuses what it can: buffer views per descriptor slot (while the guest keeps the
 * slot's address and length and the memory layout is unchanged), indirect-table views per head,
 * and the element's IOVectors (pop(into)). These tests prove the reuse never shows stale data.
 */
import { expect } from 'chai';
import {
  VIRTIO_COMMON_FEATURES,
  VirtQueueElement,
  VirtioDevice,
  VringDescFlag,
  type VirtQueue,
} from '../src/index.js';
import { CaptureDevice } from './helpers/capture-device.js';
import { RAM_BASE, RAM_SIZE, makeRig } from './helpers/rig.js';

/** Pops every chain into one reused element and records what each pop mapped. */
class ReuseDevice extends VirtioDevice {
  readonly elem = new VirtQueueElement();
  readonly seen: { out: number[]; in: number[]; niov: [number, number] }[] = [];

  constructor() {
    super({ deviceId: 0xfffd, name: 'reuse', features: VIRTIO_COMMON_FEATURES, configSize: 0 });
    this.addQueue(16);
  }

  protected override handleOutput(queue: VirtQueue): void {
    let e: VirtQueueElement | null;
    while ((e = queue.pop(this.elem)) !== null) {
      this.seen.push({
        out: e.outSg.views.map((v) => v.length),
        in: e.inSg.views.map((v) => v.length),
        niov: [e.outSg.niov, e.inSg.niov],
      });
      queue.push(e, 0);
    }
  }
}

function captureRig() {
  const rig = makeRig({ device: new CaptureDevice() });
  rig.driver.negotiate();
  const q = rig.driver.setupQueue(0);
  rig.driver.driverOk();
  return { ...rig, q };
}

describe('split virtqueue: reuse on the pop path', () => {
  it('a descriptor slot re-pointed at another buffer (or resized) maps the new buffer; an unchanged one reuses its view', () => {
    const { q, run, device, allocator, memory } = captureRig();
    const a = allocator.alloc(64, 8);
    const b = allocator.alloc(64, 8);
    const head = q.addChain([{ addr: a, len: 64, write: true }]);
    q.publish();
    q.kick();
    run();
    const again = (addr: number, len: number): Uint8Array => {
      q.writeDescriptor(head, { addr, len, flags: VringDescFlag.WRITE, next: 0 });
      q.addHead(head);
      q.publish();
      q.kick();
      run();
      return device.elements[device.elements.length - 1].inSg.views[0];
    };
    const first = device.elements[0].inSg.views[0];
    expect(again(a, 64)).to.equal(first, 'same address and length: the same view');
    const moved = again(b, 64);
    expect(moved.byteOffset - first.byteOffset).to.equal(b - a);
    const shorter = again(b, 16);
    expect(shorter.length).to.equal(16);
    memory.writeU8(b + 3, 0x5a);
    expect(shorter[3]).to.equal(0x5a);
  });

  it('a memory layout change drops cached views: a buffer in a replaced region maps the new region', () => {
    const { q, run, device, memory } = captureRig();
    const gpa = RAM_BASE + RAM_SIZE + 0x1000;
    const old = memory.addRegion(gpa, new ArrayBuffer(4096), 'extra');
    const head = q.addChain([{ addr: gpa + 8, len: 32, write: true }]);
    q.publish();
    q.kick();
    run();
    expect(device.elements[0].inSg.views[0].buffer).to.equal(old.bytes.buffer);
    memory.removeRegion(old);
    const replacement = memory.addRegion(gpa, new ArrayBuffer(4096), 'extra2');
    q.addHead(head);
    q.publish();
    q.kick();
    run();
    const view = device.elements[1].inSg.views[0];
    expect(view.buffer).to.equal(replacement.bytes.buffer);
    expect(view.byteOffset - replacement.bytes.byteOffset).to.equal(8);
  });

  it('an indirect table moved or rewritten is read afresh (its view is cached per head only while unchanged)', () => {
    const { q, run, device, allocator } = captureRig();
    const r1 = q.submit({ out: new Uint8Array(8), outSplit: [3, 5], inLength: 4, indirect: true });
    q.kick();
    run();
    expect(device.elements[0].outSg.views.map((v) => v.length)).to.deep.equal([3, 5]);
    // Same head, a new two-entry table elsewhere with other lengths.
    const table = allocator.alloc(32, 16);
    const buf = allocator.alloc(16, 8);
    q.writeDescriptor(0, { addr: buf, len: 7, flags: VringDescFlag.NEXT, next: 1 }, table);
    q.writeDescriptor(1, { addr: buf + 8, len: 2, flags: VringDescFlag.WRITE, next: 0 }, table);
    q.writeDescriptor(r1.head, { addr: table, len: 32, flags: VringDescFlag.INDIRECT, next: 0 });
    q.addHead(r1.head);
    q.publish();
    q.kick();
    run();
    const e = device.elements[1];
    expect([e.outSg.views.map((v) => v.length), e.inSg.views.map((v) => v.length)]).to.deep.equal([[7], [2]]);
    // The same table rewritten in place: the new contents count.
    q.writeDescriptor(0, { addr: buf, len: 5, flags: VringDescFlag.WRITE, next: 0 }, table);
    q.addHead(r1.head);
    q.publish();
    q.kick();
    run();
    const f = device.elements[2];
    expect([f.outNum, f.inNum, f.inSg.views.map((v) => v.length)]).to.deep.equal([0, 1, [5]]);
  });

  it('pop(into) reusing an element that held a longer chain reports only the new chain', () => {
    const rig = makeRig({ device: new ReuseDevice() });
    rig.driver.negotiate();
    const q = rig.driver.setupQueue(0);
    rig.driver.driverOk();
    q.submit({ out: new Uint8Array(12), outSplit: [4, 4, 4], inLength: 6, inSplit: [1, 2, 3] });
    q.kick();
    rig.run();
    q.reap();
    q.submit({ out: new Uint8Array(2), inLength: 1 });
    q.kick();
    rig.run();
    expect(rig.device.seen).to.deep.equal([
      { out: [4, 4, 4], in: [1, 2, 3], niov: [3, 3] },
      { out: [2], in: [1], niov: [1, 1] },
    ]);
    const e = rig.device.elem;
    expect([e.outLen, e.inLen, e.outNum, e.inNum]).to.deep.equal([2, 1, 1, 1]);
  });
});
