/** Where the gateway listens and where rtorrent's SCGI socket is, parsed once at start. */

export type SocketAddress =
  | { readonly kind: 'unix'; readonly path: string; readonly label: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly label: string };

function parseHostPort(text: string): { host: string; port: number } | undefined {
  // "[::1]:8000" for IPv6, "host:8000" otherwise.
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]/]+)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}

function unixPath(text: string): string | undefined {
  // ruTorrent writes "unix:///path", nginx "unix:/path"; both name the same absolute path.
  const path = text.replace(/^unix:(\/\/)?/, '');
  return path.startsWith('/') && !path.includes('\0') ? path : undefined;
}

/** "unix:/run/rtorrent/scgi.socket", "/abs/path", "tcp://127.0.0.1:5000" or "127.0.0.1:5000". */
export function parseUpstreamAddress(text: string): SocketAddress | undefined {
  if (text.startsWith('unix:') || text.startsWith('/')) {
    const path = unixPath(text);
    return path === undefined ? undefined : { kind: 'unix', path, label: `unix:${path}` };
  }
  const hostPort = parseHostPort(text.replace(/^(tcp|scgi):\/\//, ''));
  return hostPort && hostPort.port > 0
    ? { kind: 'tcp', ...hostPort, label: `tcp://${text.replace(/^(tcp|scgi):\/\//, '')}` }
    : undefined;
}

/** "127.0.0.1:8000", "[::]:8000", ":8000" (all interfaces) or "unix:/run/rtorrent-gateway/http.sock". */
export function parseListenAddress(text: string): SocketAddress | undefined {
  if (text.startsWith('unix:')) {
    const path = unixPath(text);
    return path === undefined ? undefined : { kind: 'unix', path, label: `unix:${path}` };
  }
  const hostPort = parseHostPort(text.startsWith(':') ? `0.0.0.0${text}` : text);
  return hostPort ? { kind: 'tcp', ...hostPort, label: text } : undefined;
}
