// The daemon in this process serving an image to a vhost-user front-end (the test client plays
// QEMU's vhost-user-blk-pci): virtio-blk reads and writes reach the file, the export's options
// shape the device, and each connection and disconnection is reported in one line.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VirtioBlkFeature, VirtioBlkStatus, VirtioBlkType } from '@vmkit/virtio-blk';
import { VirtioFeature } from '@vmkit/virtio';
import type { StorageDaemon } from '../src/index.js';
import { BlkFrontEnd, until } from './helpers/blk-front-end.js';
import {
  fileExportArgs,
  imageByte,
  removeDir,
  startDaemon,
  useTestPaths,
  writeImage,
} from './helpers/daemon-rig.js';

const IMAGE_BYTES = 1 << 20;

describe('vmkit-storage-daemon: serving a vhost-user-blk export', function () {
  const paths = useTestPaths(IMAGE_BYTES);
  let daemon: StorageDaemon | null = null;
  let lines: string[];
  const clients: BlkFrontEnd[] = [];

  const connect = (path = paths.socket): BlkFrontEnd => {
    const c = BlkFrontEnd.connect(path);
    clients.push(c);
    return c;
  };

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await daemon?.shutdown();
    daemon = null;
    removeDir(paths.dir);
  });

  it('reads the image and writes to it through virtio-blk requests', async () => {
    ({ daemon, lines } = await startDaemon(fileExportArgs(paths.image, paths.socket)));
    const fe = connect();
    await fe.start();
    expect(await fe.capacity()).to.equal(BigInt(IMAGE_BYTES / 512));
    const r = await fe.read(3, 4096);
    expect(r.status).to.equal(VirtioBlkStatus.OK);
    const want = Uint8Array.from({ length: 4096 }, (_, i) => imageByte(3 * 512 + i));
    expect(Buffer.from(r.data).equals(Buffer.from(want))).to.equal(true);

    const data = new Uint8Array(8192).fill(0x5a);
    expect((await fe.write(64, data)).status).to.equal(VirtioBlkStatus.OK);
    expect((await fe.flush()).status).to.equal(VirtioBlkStatus.OK);
    const onDisk = readFileSync(paths.image);
    expect(onDisk.subarray(64 * 512, 64 * 512 + 8192).every((b) => b === 0x5a)).to.equal(true);
    expect(onDisk[64 * 512 - 1]).to.equal(imageByte(64 * 512 - 1));
    expect(onDisk[64 * 512 + 8192]).to.equal(imageByte(64 * 512 + 8192));
    // Read back through the device too.
    expect(Buffer.from((await fe.read(64, 8192)).data).equals(Buffer.from(data))).to.equal(true);
    expect(fe.takeCalls()).to.be.greaterThan(0);
  });

  it('offers a write-back cache (FLUSH) on a writable export and no RO bit', async () => {
    ({ daemon, lines } = await startDaemon(fileExportArgs(paths.image, paths.socket)));
    const fe = connect();
    await fe.start();
    expect(fe.hasFeature(VirtioBlkFeature.FLUSH)).to.equal(true);
    expect(fe.hasFeature(VirtioBlkFeature.RO)).to.equal(false);
  });

  it('writable=off (the default) offers VIRTIO_BLK_F_RO and fails writes without touching the file', async () => {
    ({ daemon, lines } = await startDaemon(fileExportArgs(paths.image, paths.socket, '')));
    const fe = connect();
    await fe.start();
    expect(fe.hasFeature(VirtioBlkFeature.RO)).to.equal(true);
    const w = await fe.write(0, new Uint8Array(512).fill(1));
    expect(w.status).to.equal(VirtioBlkStatus.IOERR);
    expect(readFileSync(paths.image)[0]).to.equal(imageByte(0));
    expect((await fe.read(0, 512)).status).to.equal(VirtioBlkStatus.OK);
  });

  it('logical-block-size sets the blk_size the guest reads (config offset 20)', async () => {
    ({ daemon, lines } = await startDaemon(
      fileExportArgs(paths.image, paths.socket, 'writable=on,logical-block-size=4096'),
    ));
    const fe = connect();
    await fe.start();
    expect(fe.hasFeature(VirtioBlkFeature.BLK_SIZE)).to.equal(true);
    const cfg = await fe.master.getConfig(20, 4);
    expect(new DataView(cfg.buffer, cfg.byteOffset, 4).getUint32(0, true)).to.equal(4096);
  });

  it("reports 'client connected' and 'client disconnected (reason)' once per client", async () => {
    ({ daemon, lines } = await startDaemon(fileExportArgs(paths.image, paths.socket)));
    const first = connect();
    await first.start();
    await until(() => lines.length >= 1, 'the connect line');
    expect(lines).to.deep.equal(["export 'vu0': client connected"]);
    first.close();
    await until(() => lines.length >= 2, 'the disconnect line');
    expect(lines[1]).to.equal("export 'vu0': client disconnected (peer closed the connection)");
    // The next front-end finds a fresh device and the data the first one wrote.
    const second = connect();
    await second.start();
    expect((await second.read(0, 512)).data[1]).to.equal(imageByte(1));
    await until(() => lines.length >= 3, 'the second connect line');
    expect(lines).to.have.length(3);
    expect(lines[2]).to.equal("export 'vu0': client connected");
  });

  it('serves requests from an IOThread given by iothread=', async () => {
    // prettier-ignore
    ({ daemon, lines } = await startDaemon([
      '--object', 'iothread,id=io0',
      ...fileExportArgs(paths.image, paths.socket, 'writable=on,iothread=io0'),
    ]));
    const fe = connect();
    await fe.start();
    expect((await fe.write(8, new Uint8Array(512).fill(7))).status).to.equal(VirtioBlkStatus.OK);
    const blk = daemon.export('vu0')!.device.blockBackend!;
    expect(blk.aioContext).to.equal(daemon.machine.iothread('io0'));
    expect(readFileSync(paths.image)[8 * 512]).to.equal(7);
  });

  it('throttle-group= (vmkit extension) puts the export in the group of --object throttle-group', async () => {
    // prettier-ignore
    ({ daemon, lines } = await startDaemon([
      '--object', 'throttle-group,id=tg0,limits.iops-total=1000',
      ...fileExportArgs(paths.image, paths.socket, 'writable=on,throttle-group=tg0'),
    ]));
    const blk = daemon.export('vu0')!.device.blockBackend!;
    expect(blk.ioLimitsGroup).to.equal('tg0');
    const fe = connect();
    await fe.start();
    expect((await fe.read(0, 4096)).status).to.equal(VirtioBlkStatus.OK);
  });

  it('coalesce-frames/coalesce-usecs (vmkit extension) hold interrupts on every queue and report them', async () => {
    ({ daemon, lines } = await startDaemon(
      fileExportArgs(paths.image, paths.socket, 'writable=on,coalesce-frames=8,coalesce-usecs=300'),
    ));
    const device = daemon.export('vu0')!.device;
    expect(device.queues.map((q) => q.interruptCoalescing?.options)).to.deep.equal([
      { maxFrames: 8, usecs: 300 },
    ]);
    const fe = connect();
    await fe.start();
    const reads = [0, 8, 16, 24].map((s) => fe.submit(VirtioBlkType.IN, s, undefined, 4096));
    for (const r of reads) expect((await fe.wait(r)).status).to.equal(VirtioBlkStatus.OK);
    fe.close();
    await until(() => lines.length >= 2, 'the disconnect line');
    // This front-end does not negotiate EVENT_IDX: nothing is ever held for it.
    expect(lines[1]).to.equal(
      "export 'vu0': client disconnected (peer closed the connection), 0 interrupts held (0 for the full 300 µs)",
    );
  });

  it('coalescing over vhost-user with EVENT_IDX: a lone completion is held for coalesce-usecs, then signalled', async () => {
    ({ daemon, lines } = await startDaemon(
      fileExportArgs(paths.image, paths.socket, 'writable=on,coalesce-frames=4,coalesce-usecs=300'),
    ));
    const fe = connect();
    await fe.start(64, { eventIdx: true });
    expect(fe.hasFeature(VirtioFeature.RING_EVENT_IDX)).to.equal(true);
    // One request where four are wanted per interrupt: held, then raised by the timer.
    expect((await fe.read(0, 4096)).status).to.equal(VirtioBlkStatus.OK);
    await until(() => fe.takeCalls() > 0, 'the held interrupt');
    fe.close();
    await until(() => lines.length >= 2, 'the disconnect line');
    expect(lines[1]).to.equal(
      "export 'vu0': client disconnected (peer closed the connection), 1 interrupts held (1 for the full 300 µs)",
    );
  });

  it('serves two exports of two nodes on two sockets', async () => {
    const image2 = join(paths.dir, 'disk2.img');
    writeImage(image2, IMAGE_BYTES);
    const socket2 = join(paths.dir, 'vu1.sock');
    // prettier-ignore
    ({ daemon, lines } = await startDaemon([
      ...fileExportArgs(paths.image, paths.socket),
      '--blockdev', `driver=file,node-name=file1,filename=${image2}`,
      '--blockdev', 'raw,node-name=disk1,file=file1',
      '--export', `vhost-user-blk,id=vu1,node-name=disk1,addr.type=unix,addr.path=${socket2},writable=on`,
    ]));
    const a = connect();
    const b = connect(socket2);
    await a.start();
    await b.start();
    await a.write(0, new Uint8Array(512).fill(0xa));
    await b.write(0, new Uint8Array(512).fill(0xb));
    expect(readFileSync(paths.image)[0]).to.equal(0xa);
    expect(readFileSync(image2)[0]).to.equal(0xb);
  });

  it('answers an unknown request type with UNSUPP and keeps serving', async () => {
    ({ daemon, lines } = await startDaemon(fileExportArgs(paths.image, paths.socket)));
    const fe = connect();
    await fe.start();
    const r = await fe.wait(fe.submit(0x42, 0, undefined, 16));
    expect(r.status).to.equal(VirtioBlkStatus.UNSUPP);
    expect((await fe.read(0, 512)).status).to.equal(VirtioBlkStatus.OK);
  });
});
