/**
 * Reads the answers the gateway asks rtorrent for itself (the shape probe), never a client's bytes:
 * a <methodResponse> becomes plain values. Faults come back as a value too, so that one failed
 * member of a system.multicall answer does not hide the others.
 */
import { SaxesParser } from 'saxes';

export interface XmlRpcFaultValue {
  readonly faultCode: number;
  readonly faultString: string;
}

export type XmlRpcAnswer =
  | string
  | number
  | boolean
  | readonly XmlRpcAnswer[]
  | { readonly [member: string]: XmlRpcAnswer };

export type DecodedResponse = { readonly ok: true; readonly value: XmlRpcAnswer } | { readonly ok: false; readonly fault: XmlRpcFaultValue };

interface Frame {
  readonly tag: string;
  text: string;
  items?: XmlRpcAnswer[];
  members?: Record<string, XmlRpcAnswer>;
  name?: string;
  value?: XmlRpcAnswer;
}

const SCALARS: Readonly<Record<string, (text: string) => XmlRpcAnswer>> = {
  string: (text) => text,
  i4: Number,
  int: Number,
  i8: Number,
  'ex:i8': Number,
  double: Number,
  boolean: (text) => text.trim() === '1',
  base64: (text) => Buffer.from(text, 'base64').toString('latin1'),
};

export function isFault(value: XmlRpcAnswer | undefined): value is { faultCode: number; faultString: string } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'faultCode' in value;
}

/** Throws on anything that is not a well-formed <methodResponse>. */
export function decodeMethodResponse(body: Buffer | string): DecodedResponse {
  const parser = new SaxesParser({ xmlns: false });
  const stack: Frame[] = [{ tag: '(document)', text: '' }];
  let result: XmlRpcAnswer | undefined;
  let fault = false;
  const top = (): Frame => stack[stack.length - 1] as Frame;
  const give = (value: XmlRpcAnswer): void => {
    const frame = top();
    if (frame.tag === 'value') frame.value = value;
  };
  parser.on('opentag', (tag) => {
    if (tag.name === 'fault') fault = true;
    const frame: Frame = { tag: tag.name, text: '' };
    if (tag.name === 'data') frame.items = [];
    if (tag.name === 'struct') frame.members = {};
    stack.push(frame);
  });
  parser.on('text', (text) => {
    top().text += text;
  });
  parser.on('closetag', () => {
    const frame = stack.pop() as Frame;
    const parent = top();
    const scalar = SCALARS[frame.tag];
    if (scalar !== undefined) {
      give(scalar(frame.text));
      return;
    }
    switch (frame.tag) {
      case 'value': {
        // An untyped <value>text</value> is a string.
        const value = frame.value ?? frame.text;
        if (parent.tag === 'data') parent.items?.push(value);
        else if (parent.tag === 'member') parent.value = value;
        else result = value;
        return;
      }
      case 'data':
        parent.items = frame.items;
        return;
      case 'array':
        give(frame.items ?? []);
        return;
      case 'name':
        parent.name = frame.text;
        return;
      case 'member':
        if (frame.name !== undefined && frame.value !== undefined) parent.members![frame.name] = frame.value;
        return;
      case 'struct':
        give(frame.members ?? {});
        return;
    }
  });
  parser.write(typeof body === 'string' ? body : body.toString('utf8')).close();
  if (result === undefined) throw new Error('the answer holds no value');
  if (fault) {
    if (!isFault(result)) throw new Error('the answer is a fault without faultCode');
    return { ok: false, fault: { faultCode: Number(result.faultCode), faultString: String(result.faultString ?? '') } };
  }
  return { ok: true, value: result };
}
