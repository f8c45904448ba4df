import { expect } from 'chai';
import {
  parseXenbusState,
  parseXenUint,
  readEventChannel,
  readProtocol,
  readRingRefs,
  XenDeviceError,
  xenbusStateName,
} from '../src/index.js';

const reader =
  (keys: Record<string, string>) =>
  (k: string): string | undefined =>
    keys[k];

describe('xen-bus: frontend keys', () => {
  it('parseXenUint reads like scanf %u', () => {
    expect(parseXenUint('42')).to.equal(42);
    expect(parseXenUint(' 7\n')).to.equal(7);
    expect(parseXenUint('12abc')).to.equal(12);
    expect(parseXenUint('abc')).to.equal(undefined);
    expect(parseXenUint('4294967296')).to.equal(undefined);
    expect(parseXenUint(-2)).to.equal(undefined); // an errno from read()
    expect(parseXenUint(undefined)).to.equal(undefined);
  });

  it('ring refs: ring-ref alone, or ring-ref0..N with ring-page-order', () => {
    expect(readRingRefs(reader({ 'ring-ref': '8' }), 4)).to.deep.equal([8]);
    expect(
      readRingRefs(
        reader({ 'ring-page-order': '1', 'ring-ref0': '9', 'ring-ref1': '10', 'ring-ref': '1' }),
        4,
      ),
    ).to.deep.equal([9, 10]);
    expect(() => readRingRefs(reader({}), 4)).to.throw(XenDeviceError, 'failed to read ring-ref');
    expect(() => readRingRefs(reader({ 'ring-page-order': '2', 'ring-ref0': '1' }), 4)).to.throw(
      XenDeviceError,
      'failed to read ring-ref1',
    );
    expect(() => readRingRefs(reader({ 'ring-page-order': '5' }), 4)).to.throw('invalid ring-page-order (5)');
  });

  it('event-channel and protocol', () => {
    expect(readEventChannel(reader({ 'event-channel': '3' }))).to.equal(3);
    expect(() => readEventChannel(reader({}))).to.throw('failed to read event-channel');
    expect(readProtocol(reader({ protocol: 'x86_32-abi' }))).to.equal('x86_32-abi');
    expect(readProtocol(reader({ protocol: 'x86_64-abi' }))).to.equal('x86_64-abi');
    expect(readProtocol(reader({ protocol: 'arm-abi' }))).to.equal('native');
    expect(readProtocol(reader({}))).to.equal('native');
  });

  it('XenbusState names and parsing', () => {
    expect(xenbusStateName(4)).to.equal('Connected');
    expect(xenbusStateName(42)).to.equal('Invalid(42)');
    expect(parseXenbusState('6')).to.equal(6);
    expect(parseXenbusState('9')).to.equal(undefined);
    expect(parseXenbusState(-2)).to.equal(undefined);
  });
});
