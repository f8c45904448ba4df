export { checkDeadline, type Clock, type ClockKind, type ClockTimer } from './clock.js';
export { VirtualClock } from './virtual-clock.js';
export { HostClock } from './host-clock.js';
export { TimerHeap, type TimerHeapEntry } from './timer-heap.js';
export type { BottomHalf } from './bottom-half.js';
export { AioContext, type AioContextOptions } from './aio-context.js';
export { EventNotifier, type EventNotifierHandler } from './event-notifier.js';
export { IOThread, mainContext } from './iothread.js';
