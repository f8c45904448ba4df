import { native } from './native.js';

/** Closes a descriptor (one received with a message, say): 0 or -errno. */
export function closeFd(fd: number): number {
  return native.close(fd);
}

/** Closes every descriptor in `fds` (those of a rejected message); errors are ignored. */
export function closeFds(fds: readonly number[]): void {
  for (const fd of fds) native.close(fd);
}
