import { expect } from 'chai';
import { QmpError, validateArguments, type JsonObject, type QmpArgsSchema } from '../src/index.js';

function check(schema: QmpArgsSchema, args: JsonObject, extra = false): string | undefined {
  try {
    validateArguments(schema, args, extra);
    return undefined;
  } catch (e) {
    expect(e).to.be.instanceOf(QmpError);
    expect((e as QmpError).errorClass).to.equal('GenericError');
    return (e as QmpError).message;
  }
}

describe('argument validation (qobject-input-visitor.c messages)', () => {
  const resize = { '*device': 'str', '*node-name': 'str', size: 'int' } as const;

  it('missing, wrong type and unexpected members, in QEMU words', () => {
    expect(check(resize, { device: 'd' })).to.equal("Parameter 'size' is missing");
    expect(check(resize, { size: '1G' })).to.equal("Invalid parameter type for 'size', expected: integer");
    expect(check(resize, { size: 1.5 })).to.equal("Invalid parameter type for 'size', expected: integer");
    expect(check(resize, { device: 5, size: 1 })).to.equal(
      "Invalid parameter type for 'device', expected: string",
    );
    expect(check(resize, { device: null, size: 1 })).to.equal(
      "Invalid parameter type for 'device', expected: string",
    );
    expect(check(resize, { size: 1, bogus: true })).to.equal("Parameter 'bogus' is unexpected");
    expect(check(resize, { size: 1, bogus: true }, true)).to.equal(undefined);
    expect(check(resize, { size: 4096 })).to.equal(undefined);
  });

  it('members are checked in schema order, unexpected ones last', () => {
    expect(check(resize, { bogus: 1, device: 1 })).to.equal(
      "Invalid parameter type for 'device', expected: string",
    );
    expect(check(resize, { bogus: 1 })).to.equal("Parameter 'size' is missing");
  });

  it('nested names: struct members with dots, list elements with brackets; enums', () => {
    const schema = {
      options: [{ struct: { driver: 'str', '*cache': { struct: { '*direct': 'bool' } } }, extra: true }],
      '*mode': { enum: ['a', 'b'] },
      '*flag': 'bool',
      '*n': 'number',
    } as const;
    expect(check(schema, { options: {} })).to.equal("Invalid parameter type for 'options', expected: array");
    expect(check(schema, { options: [{ driver: 'raw' }, {}] })).to.equal(
      "Parameter 'options[1].driver' is missing",
    );
    expect(check(schema, { options: [{ driver: 'raw', cache: { direct: 1 } }] })).to.equal(
      "Invalid parameter type for 'options[0].cache.direct', expected: boolean",
    );
    expect(check(schema, { options: [{ driver: 'raw', cache: { x: 1 } }] })).to.equal(
      "Parameter 'options[0].cache.x' is unexpected",
    );
    expect(check(schema, { options: ['raw'] })).to.equal(
      "Invalid parameter type for 'options[0]', expected: object",
    );
    expect(check(schema, { options: [], mode: 'c' })).to.equal("Parameter 'mode' does not accept value 'c'");
    expect(check(schema, { options: [], mode: 1 })).to.equal(
      "Invalid parameter type for 'mode', expected: string",
    );
    expect(check(schema, { options: [], flag: 'on' })).to.equal(
      "Invalid parameter type for 'flag', expected: boolean",
    );
    expect(check(schema, { options: [], n: '1' })).to.equal(
      "Invalid parameter type for 'n', expected: number",
    );
    expect(check(schema, { options: [{ driver: 'raw', file: 'x' }], mode: 'b', n: 0.5 })).to.equal(undefined);
  });

  it('extra members are returned apart', () => {
    const { args, rest } = validateArguments(
      { driver: 'str', '*id': 'str' },
      { driver: 'x', id: 'a', size: 3 },
      true,
    );
    expect(args).to.deep.equal({ driver: 'x', id: 'a', size: 3 });
    expect(rest).to.deep.equal({ size: 3 });
  });
});
