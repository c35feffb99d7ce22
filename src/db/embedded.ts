/**
 * An embedded Postgres for machines without one: PGlite (Postgres compiled to WebAssembly)
 * keeps its data in a folder and is served over the Postgres wire protocol, so postgres.js,
 * drizzle's migrator and psql connect to it as to any server.
 *
 * PGlite runs one Postgres session, so every client connection shares it. We serve it with
 * our own small multiplexer rather than PGLiteSocketServer's: that one interleaves messages
 * of different connections inside one extended-protocol exchange, and with postgres.js and
 * a few concurrent writes (200 parallel updates over 10 connections) it hangs. Ours runs a
 * connection's messages up to its Sync as one unit, and while a connection has a
 * transaction open it runs only that connection's messages.
 *
 * Known limits, fine for one developer's machine and the reason it is never used when a
 * Postgres answers: a client that keeps a transaction open makes every other client wait;
 * session state set in SQL (SET, PREPARE, temporary tables, LISTEN) is shared by all
 * clients; there is no authentication, TLS or query cancel.
 */
import net from 'node:net';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pino from 'pino';
import type { Logger } from '../logger';

/** Port of the embedded database; not 5432, so it never hides a real Postgres. */
export const DEFAULT_EMBEDDED_PORT = 54329;
export const DEFAULT_EMBEDDED_DATA_DIR = path.resolve(__dirname, '../../.data/pglite');

export interface EmbeddedPostgresOptions {
  /** Folder holding the database files; created on first start. @default .data/pglite */
  readonly dataDir?: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 lets the OS choose. @default 54329 */
  readonly port?: number;
  /** @default a silent logger */
  readonly log?: Logger;
}

export interface EmbeddedPostgres {
  /** `postgres://postgres@host:port/postgres`: PGlite has one database, `postgres`. */
  readonly url: string;
  readonly dataDir: string;
  /** Closes every client connection, then the database, writing it to disk. */
  stop(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const NO_ENCRYPTION = Buffer.from('N');
/** Frontend messages after which the server answers and the client waits. */
const EXCHANGE_ENDS = new Set(['S', 'Q']);
const FLUSH = 'H';
const TERMINATE = 'X';

function frontendMessage(type: string, body: string): Uint8Array {
  const text = Buffer.from(`${body}\0`);
  const message = Buffer.alloc(5 + text.length);
  message.write(type, 0);
  message.writeInt32BE(4 + text.length, 1);
  text.copy(message, 5);
  return message;
}
const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);
const ROLLBACK = frontendMessage('Q', 'ROLLBACK');

function cString(message: Buffer, at: number): { text: string; end: number } {
  const end = message.indexOf(0, at);
  return { text: message.toString('utf8', at, end), end: end + 1 };
}

/** A copy of `message` with the C string at `at` replaced by `name`. */
function withName(message: Buffer, at: number, name: string): Buffer {
  const { end } = cString(message, at);
  const rest = message.subarray(end);
  const out = Buffer.concat([message.subarray(0, at), Buffer.from(`${name}\0`), rest]);
  out.writeInt32BE(out.length - 1, 1);
  return out;
}

/** Where a message names a prepared statement: Parse, Bind, and Describe or Close of 'S'. */
function statementNameAt(message: Buffer): number | undefined {
  const type = String.fromCharCode(message[0] ?? 0);
  if (type === 'P') return 5;
  if (type === 'B') return cString(message, 5).end;
  if ((type === 'D' || type === 'C') && message[5] === 'S'.charCodeAt(0)) return 6;
  return undefined;
}

/** One client's messages that must run together, with nobody else's in between. */
interface Unit {
  readonly client: WireClient;
  readonly messages: readonly Uint8Array[];
  /** False after a Flush: the client will send more of the same exchange. */
  readonly endsExchange: boolean;
  /** Set when the client has gone: closes what it left open. */
  readonly release?: true;
}

/** Runs units one at a time on the single PGlite session. */
class Multiplexer {
  private queue: Unit[] = [];
  /** The client whose exchange or transaction is open: only its units may run. */
  private owner: WireClient | undefined;
  private draining: Promise<void> | undefined;

  constructor(
    private readonly db: PGlite,
    private readonly log: Logger,
  ) {}

  submit(unit: Unit): void {
    this.queue.push(unit);
    this.kick();
  }

  /** Drops a departed client's waiting units and queues the release of its session state. */
  forget(client: WireClient): void {
    this.queue = this.queue.filter((unit) => unit.client !== client);
    this.submit({ client, messages: [], endsExchange: true, release: true });
  }

  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.nextIndex() >= 0) this.kick();
    });
  }

  private nextIndex(): number {
    if (!this.owner) return this.queue.length > 0 ? 0 : -1;
    return this.queue.findIndex((unit) => unit.client === this.owner);
  }

  private next(): Unit | undefined {
    const index = this.nextIndex();
    return index < 0 ? undefined : this.queue.splice(index, 1)[0];
  }

  private async drain(): Promise<void> {
    for (let unit = this.next(); unit; unit = this.next()) {
      if (unit.release) await this.release(unit.client);
      else await this.run(unit);
    }
  }

  private async run(unit: Unit): Promise<void> {
    try {
      await this.execute(unit.messages, (data) => unit.client.send(data));
      const open = !unit.endsExchange || this.db.isInTransaction();
      this.owner = open ? unit.client : undefined;
    } catch (error) {
      this.log.error({ err: error }, 'Embedded database failed a request');
      // Owner until its release unit has closed whatever the failure left open.
      this.owner = unit.client;
      unit.client.close();
    }
  }

  /**
   * Clears what a departed client left in the shared session: its open exchange, its
   * transaction (rolled back), its prepared statements.
   */
  private async release(client: WireClient): Promise<void> {
    const messages: Uint8Array[] = [];
    if (this.owner === client) messages.push(SYNC);
    if (this.owner === client && this.db.isInTransaction()) messages.push(ROLLBACK);
    for (const name of client.statements) messages.push(frontendMessage('C', `S${name}`));
    this.owner = undefined;
    if (client.statements.size > 0) messages.push(SYNC);
    if (messages.length === 0) return;
    await this.execute(messages, () => undefined).catch((error: unknown) => {
      this.log.error({ err: error }, 'Embedded database could not roll back a closed client');
    });
  }

  private execute(messages: readonly Uint8Array[], send: (data: Uint8Array) => void) {
    return this.db.runExclusive(async () => {
      for (const [index, message] of messages.entries()) {
        const last = index === messages.length - 1;
        await this.db.execProtocolRawStream(message, { syncToFs: last, onRawData: send });
      }
    });
  }
}

let clientCount = 0;

/**
 * One client connection: cuts its byte stream into messages and submits them in units.
 * Prepared statements live in the shared session, and postgres.js gives a statement the
 * same name on each connection of a pool, so names get a per-client prefix.
 */
class WireClient {
  private buffer: Buffer = Buffer.alloc(0);
  private started = false;
  private pending: Uint8Array[] = [];
  private readonly prefix = `c${(clientCount += 1)}_`;
  /** Statements this client prepared, closed when it goes. */
  readonly statements = new Set<string>();

  constructor(
    private readonly socket: net.Socket,
    private readonly multiplexer: Multiplexer,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    // A client that resets its connection has simply gone; 'close' follows and cleans up.
    socket.on('error', () => socket.destroy());
    socket.once('close', () => multiplexer.forget(this));
  }

  send(data: Uint8Array): void {
    // Buffer.from copies: PGlite reuses the memory behind `data`.
    if (data.length > 0 && this.socket.writable) this.socket.write(Buffer.from(data));
  }

  close(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const length = this.started ? this.typedLength() : this.untypedLength();
      if (length === undefined || this.buffer.length < length) return;
      const message = this.buffer.subarray(0, length);
      this.buffer = this.buffer.subarray(length);
      if (this.started) this.typed(message);
      else this.untyped(message);
    }
  }

  private untypedLength(): number | undefined {
    return this.buffer.length < 8 ? undefined : this.buffer.readInt32BE(0);
  }

  private typedLength(): number | undefined {
    return this.buffer.length < 5 ? undefined : 1 + this.buffer.readInt32BE(1);
  }

  /** The messages before start-up: encryption requests (refused), cancel, start-up. */
  private untyped(message: Buffer): void {
    const code = message.readInt32BE(4);
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      this.socket.write(NO_ENCRYPTION);
    } else if (code === CANCEL_REQUEST) {
      // PGlite cannot interrupt a running statement; the requester just hangs up.
      this.socket.end();
    } else {
      this.started = true;
      this.submit([Buffer.from(message)], true);
    }
  }

  private typed(message: Buffer): void {
    const type = String.fromCharCode(message[0] ?? 0);
    // Terminate is for us, not PGlite: its one session goes on serving the other clients.
    if (type === TERMINATE) {
      this.socket.end();
      return;
    }
    this.pending.push(this.renamed(message));
    if (EXCHANGE_ENDS.has(type) || type === FLUSH) this.submit(this.pending, type !== FLUSH);
  }

  private renamed(message: Buffer): Buffer {
    const at = statementNameAt(message);
    const name = at === undefined ? '' : cString(message, at).text;
    if (at === undefined || name === '') return Buffer.from(message);
    const local = `${this.prefix}${name}`;
    if (message[0] === 'P'.charCodeAt(0)) this.statements.add(local);
    if (message[0] === 'C'.charCodeAt(0)) this.statements.delete(local);
    return withName(message, at, local);
  }

  private submit(messages: Uint8Array[], endsExchange: boolean): void {
    this.pending = [];
    this.multiplexer.submit({ client: this, messages, endsExchange });
  }
}

function listen(server: net.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

function clientHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Opens the PGlite database in `dataDir` (creating it on first use, which takes a few
 * seconds) and serves it on host:port. The port is taken before the files are opened, so a
 * second copy started on the same port fails before it can touch the first one's data.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(options.dataDir ?? DEFAULT_EMBEDDED_DATA_DIR);
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? pino({ level: 'silent' });
  const server = net.createServer();
  // Until the database is open, callers are turned away as if nothing listened yet.
  const refuse = (socket: net.Socket) => socket.destroy();
  server.on('connection', refuse);
  const port = await listen(server, options.port ?? DEFAULT_EMBEDDED_PORT, host);

  const db = await PGlite.create({ dataDir }).catch(async (error: unknown) => {
    await new Promise((resolve) => server.close(resolve));
    throw new Error(`Embedded database could not open ${dataDir}`, { cause: error });
  });
  const running = new Multiplexer(db, log);
  const sockets = new Set<net.Socket>();
  server.off('connection', refuse);
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    new WireClient(socket, running);
  });

  const stop = async (): Promise<void> => {
    const closed = new Promise((resolve) => server.close(resolve));
    for (const socket of sockets) socket.destroy();
    await closed;
    await running.idle();
    await db.close();
  };
  return { url: `postgres://postgres@${clientHost(host)}:${port}/postgres`, dataDir, stop };
}
