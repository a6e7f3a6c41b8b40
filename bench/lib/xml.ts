/**
 * Request bodies for the bench, shaped like what real clients send. xmlCall from the test helpers
 * covers plain calls; system.multicall needs structs, which it does not encode, hence this.
 */
import { xmlCall, type XmlParam } from '../../test/helpers/scgi-direct.js';

export { xmlCall };

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function value(param: XmlParam): string {
  if (typeof param === 'string') return `<value><string>${escapeXml(param)}</string></value>`;
  if (typeof param === 'number' || typeof param === 'bigint') return `<value><i8>${param}</i8></value>`;
  if (Buffer.isBuffer(param)) return `<value><base64>${param.toString('base64')}</base64></value>`;
  return `<value><array><data>${param.map(value).join('')}</data></array></value>`;
}

export interface Call {
  readonly method: string;
  readonly params: readonly XmlParam[];
}

/** `system.multicall([{methodName, params}, …])`, members in the order the gateway requires. */
export function multicall(calls: readonly Call[]): string {
  const members = calls
    .map(
      (call) =>
        '<value><struct>' +
        `<member><name>methodName</name><value><string>${escapeXml(call.method)}</string></value></member>` +
        `<member><name>params</name><value><array><data>${call.params.map(value).join('')}</data></array></value></member>` +
        '</struct></value>',
    )
    .join('');
  return `<?xml version="1.0"?><methodCall><methodName>system.multicall</methodName><params><param><value><array><data>${members}</data></array></value></param></params></methodCall>`;
}
