/**
 * Drained sections, QEMU >= 8 model (reference §1.1 R1–R7).
 *
 * `drainedBegin(bs)` quiesces bs and, through the parent edges, every ancestor (never the
 * children). Counters and callbacks change synchronously; the returned promise is the poll
 * (BDRV_POLL_WHILE) and resolves once no parent reports busy and bs has nothing in flight.
 * `drainedEnd` never waits (R6).
 */
import { childDrainedBeginSingle, childDrainedEndSingle } from './child.js';
import type { BlockDriverState } from './node.js';
import type { BlockGraph } from './graph.js';

/** bdrv_parent_drained_begin: quiesce every parent edge not already quiescing its parent. */
function parentDrainedBegin(bs: BlockDriverState): void {
  // Copy: a parent callback may change the graph (D11); edges added meanwhile start quiesced.
  for (const c of bs.parents.slice()) {
    if (c.bs === bs && !c.quiescedParent) childDrainedBeginSingle(c);
  }
}

/** bdrv_parent_drained_end: stop quiescing through every edge that does (child-to-parent). */
function parentDrainedEnd(bs: BlockDriverState): void {
  for (const c of bs.parents.slice()) {
    if (c.bs === bs) childDrainedEndSingle(c);
  }
}

/** Whether any parent of bs reports activity (bdrv_parent_drained_poll). */
function parentDrainedPoll(bs: BlockDriverState): boolean {
  let busy = false;
  for (const c of bs.parents) busy = c.parent.drainedPoll(c) || busy;
  return busy;
}

/**
 * R1 without polling (bdrv_do_drained_begin_quiesce): increments the counter and, on 0→1,
 * quiesces the parents and calls the driver's drainBegin hook. Used for parents reached through
 * edges, for drain-all and for nodes born during drain-all.
 */
export function doDrainedBeginQuiesce(bs: BlockDriverState): void {
  if (bs.quiesceCounter++ === 0) {
    parentDrainedBegin(bs);
    bs.driver.drainBegin?.(bs);
  }
}

/** bdrv_drain_poll: whether the drain of bs must still wait. */
export function drainPoll(bs: BlockDriverState): boolean {
  return parentDrainedPoll(bs) || bs.inFlight > 0;
}

/**
 * bdrv_drained_begin (R1): quiesce now, then wait until bs and its parents are idle.
 * The counters are already incremented when this returns (before awaiting).
 */
export function drainedBegin(bs: BlockDriverState): Promise<void> {
  doDrainedBeginQuiesce(bs);
  return bs.aioContext.waitWhile(() => drainPoll(bs));
}

/** bdrv_drained_end (R2): on 1→0, driver hook then parent edges; never polls (R6). */
export function drainedEnd(bs: BlockDriverState): void {
  if (bs.quiesceCounter <= 0) {
    throw new Error(`drainedEnd on ${bs.toString()} without drainedBegin`);
  }
  if (--bs.quiesceCounter === 0) {
    bs.driver.drainEnd?.(bs);
    parentDrainedEnd(bs);
  }
}

/** bdrv_drain: a drained section with nothing inside (waits for in-flight requests). */
export async function drain(bs: BlockDriverState): Promise<void> {
  await drainedBegin(bs);
  drainedEnd(bs);
}

/** Whether any node of the graph is busy (bdrv_drain_all_poll). */
function drainAllPoll(graph: BlockGraph): boolean {
  let busy = false;
  for (const bs of graph.nodes()) busy = drainPoll(bs) || busy;
  return busy;
}

/**
 * bdrv_drain_all_begin (R4): increments the graph's drain-all counter, quiesces every node
 * without polling, then waits until no node is busy. Nodes created before the matching end are
 * born drained.
 */
export async function drainAllBegin(graph: BlockGraph): Promise<void> {
  graph.drainAllCount++;
  for (const bs of graph.nodes()) doDrainedBeginQuiesce(bs);
  await graph.mainContext.waitWhile(() => drainAllPoll(graph));
  for (const bs of graph.nodes()) {
    if (bs.inFlight !== 0) throw new Error(`${bs.toString()} still has requests after drain-all`);
  }
}

/** bdrv_drain_all_end: ends every node's section and decrements the drain-all counter. */
export function drainAllEnd(graph: BlockGraph): void {
  if (graph.drainAllCount <= 0) throw new Error('drainAllEnd without drainAllBegin');
  for (const bs of graph.nodes()) drainedEnd(bs);
  graph.drainAllCount--;
}

/** bdrv_drain_all. */
export async function drainAll(graph: BlockGraph): Promise<void> {
  await drainAllBegin(graph);
  drainAllEnd(graph);
}
