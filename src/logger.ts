import pino from 'pino';

/**
 * The service log: JSON lines, constant messages with attributes. Secrets never reach it:
 * authorization headers and key-like fields are redacted wherever they appear.
 */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { service: 'auto-reload' },
  redact: {
    paths: [
      'req.headers.authorization',
      '*.authorization',
      '*.apiKey',
      '*.secretKey',
      '*.webhookSecret',
      'apiKey',
      'secretKey',
    ],
    censor: '[redacted]',
  },
});

export type Logger = pino.Logger;
