import { expect } from 'chai';
import { writeFileSync, statSync, existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { native, OsErrno, OsError, UnixConnection, UnixListener } from '../src/index.js';
import { fdFlags, isOpen, loopTurns, removeDir, requireAddon, socketDir } from './helpers.js';

describe('vhost-user: unix sockets', function () {
  let dir: string;
  const cleanup: (() => void)[] = [];

  before(function () {
    requireAddon(this);
  });
  beforeEach(() => {
    dir = socketDir();
  });
  afterEach(() => {
    for (const fn of cleanup.splice(0).reverse()) fn();
    removeDir(dir);
  });

  function listen(name = 'vhost.sock'): UnixListener {
    const listener = UnixListener.listen(join(dir, name));
    cleanup.push(() => listener.close());
    return listener;
  }

  function connect(path: string): UnixConnection {
    const conn = UnixConnection.connect(path);
    if (typeof conn === 'number') throw new OsError(conn, 'connect');
    cleanup.push(() => conn.close());
    return conn;
  }

  it('listen/connect/accept: bytes cross in both directions', async () => {
    const listener = listen();
    expect(statSync(listener.path).isSocket()).to.equal(true);
    const client = connect(listener.path);
    const server = await listener.accept();
    if (typeof server === 'number') throw new OsError(server, 'accept');
    cleanup.push(() => server.close());

    expect(await client.write(Uint8Array.of(1, 2, 3))).to.equal(0);
    const got = await server.readExactly(3);
    if (typeof got === 'number') throw new OsError(got, 'read');
    expect([...got.data]).to.deep.equal([1, 2, 3]);
    expect(got.fds).to.deep.equal([]);

    expect(await server.write(Uint8Array.of(9))).to.equal(0);
    const back = await client.readExactly(1);
    expect(typeof back === 'number' ? back : [...back.data]).to.deep.equal([9]);
  });

  it('every descriptor is close-on-exec and non-blocking', async () => {
    const listener = listen();
    const client = connect(listener.path);
    const server = await listener.accept();
    if (typeof server === 'number') throw new OsError(server, 'accept');
    cleanup.push(() => server.close());
    for (const fd of [listener.fd, client.fd, server.fd]) {
      expect(fdFlags(fd), `fd ${fd}`).to.deep.equal({ cloexec: true, nonblock: true });
    }
  });

  it('native accept gives -EAGAIN when no connection is pending, then the connection', () => {
    const listener = listen();
    expect(native.accept(listener.fd)).to.equal(-OsErrno.EAGAIN);
    const client = connect(listener.path);
    const fd = native.accept(listener.fd);
    expect(fd).to.be.greaterThan(2);
    expect(client.closed).to.equal(false);
    expect(native.close(fd)).to.equal(0);
  });

  it('accept() waits (through the poll watcher) for a connection made later', async () => {
    const listener = listen();
    let accepted: UnixConnection | number | undefined;
    const pending = listener.accept().then((c) => (accepted = c));
    await loopTurns();
    expect(accepted).to.equal(undefined);
    connect(listener.path);
    await pending;
    expect(accepted).to.be.instanceOf(UnixConnection);
    (accepted as UnixConnection).close();
  });

  it('the async iterator yields connections and ends when the listener closes', async () => {
    const listener = listen();
    const seen: UnixConnection[] = [];
    const loop = (async () => {
      for await (const conn of listener) {
        seen.push(conn);
        if (seen.length === 2) listener.close();
      }
    })();
    connect(listener.path);
    connect(listener.path);
    await loop;
    expect(seen).to.have.length(2);
    expect(listener.closed).to.equal(true);
    for (const c of seen) c.close();
  });

  it('close() cancels a pending accept, closes the fd and unlinks the path', async () => {
    const listener = UnixListener.listen(join(dir, 'x.sock'));
    const pending = listener.accept();
    listener.close();
    expect(await pending).to.equal(-OsErrno.ECANCELED);
    expect(isOpen(listener.fd)).to.equal(false);
    expect(existsSync(listener.path)).to.equal(false);
    expect(await listener.accept()).to.equal(-OsErrno.ECANCELED);
  });

  it('a stale socket file is replaced, any other file is not', () => {
    const path = join(dir, 'stale.sock');
    const fd = native.listen(path, 1);
    expect(fd).to.be.greaterThan(2);
    native.close(fd); // the socket file stays behind, as after a crash
    expect(statSync(path).isSocket()).to.equal(true);
    const listener = UnixListener.listen(path);
    cleanup.push(() => listener.close());
    connect(path);

    const file = join(dir, 'plain');
    writeFileSync(file, 'keep me');
    expect(() => UnixListener.listen(file)).to.throw(OsError, /EADDRINUSE/);
    expect(statSync(file).isFile()).to.equal(true);
  });

  it('connect to a missing path gives -ENOENT; a too long path is a TypeError', () => {
    expect(UnixConnection.connect(join(dir, 'nobody'))).to.equal(-constants.errno.ENOENT);
    expect(() => native.connect(`/tmp/${'x'.repeat(200)}`)).to.throw(TypeError, /at most 107 bytes/);
  });

  it('close() closes the descriptor and settles a pending read with -ECANCELED', async () => {
    const [a, b] = UnixConnection.pair();
    cleanup.push(() => b.close());
    const read = a.readExactly(4);
    a.close();
    expect(await read).to.equal(-OsErrno.ECANCELED);
    expect(isOpen(a.fd)).to.equal(false);
    expect(await a.readExactly(1)).to.equal(-OsErrno.EBADF);
    a.close(); // idempotent
  });
});
