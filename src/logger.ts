import pino, { type Logger } from 'pino';

/** pino JSON to stdout; pretty output only when asked (it costs CPU on every line). */
export function createLogger(options: { level: string; pretty: boolean }): Logger {
  return pino({
    level: options.level,
    base: { name: 'rtorrent-gateway' },
    ...(options.pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  });
}
