/** One request served, as `GET /_sandbox/requests` lists it. */
export interface RequestLogEntry {
  readonly method: string;
  readonly path: string;
  readonly idempotencyKey: string | null;
  /** The HTTP status answered; null when the connection was dropped without an answer. */
  readonly status: number | null;
  /** When the request arrived (ISO 8601). */
  readonly at: string;
}

export interface RequestLog {
  /** Notes the arrival now; the entry is listed once `finish` gives its status. */
  begin(
    method: string,
    path: string,
    idempotencyKey: string | null,
  ): {
    finish(status: number | null): void;
  };
  /** Served requests, oldest arrival first. */
  list(): RequestLogEntry[];
  clear(): void;
}

export function createRequestLog(): RequestLog {
  let entries: Array<{ arrival: number; entry: RequestLogEntry }> = [];
  let arrivals = 0;
  // A request still running across a reset must not reappear in the emptied log.
  let generation = 0;
  return {
    begin(method, path, idempotencyKey) {
      arrivals += 1;
      const arrival = arrivals;
      const startedIn = generation;
      const at = new Date().toISOString();
      return {
        finish(status) {
          if (startedIn !== generation) return;
          entries.push({ arrival, entry: { method, path, idempotencyKey, status, at } });
        },
      };
    },
    list() {
      return [...entries].sort((a, b) => a.arrival - b.arrival).map(({ entry }) => entry);
    },
    clear() {
      generation += 1;
      entries = [];
    },
  };
}
