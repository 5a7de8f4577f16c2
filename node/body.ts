// Message bodies travel as bytes. Strings and JSON values are encoded once at publish; the
// content-type header says how to read them back.
import { InvalidArgument } from './errors.ts';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };
/** Bytes (a Buffer, any typed array or DataView, an ArrayBuffer: sent as they are), text, or JSON. */
export type Body = Uint8Array | ArrayBufferView | ArrayBuffer | string | JsonValue;

export const CONTENT_TYPE = 'content-type';
const encoder = new TextEncoder();

/** The content types a node gives bodies itself. */
export const OWN_CONTENT_TYPES: ReadonlySet<string> = new Set(['application/octet-stream', 'text/plain', 'application/json']);

export function encodeBody(body: unknown): { bytes: Uint8Array; contentType: string } {
  if (body instanceof Uint8Array) return { bytes: body, contentType: 'application/octet-stream' };
  if (ArrayBuffer.isView(body)) return { bytes: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), contentType: 'application/octet-stream' };
  if (body instanceof ArrayBuffer) return { bytes: new Uint8Array(body), contentType: 'application/octet-stream' };
  if (typeof body === 'string') return { bytes: encoder.encode(body), contentType: 'text/plain' };
  return { bytes: encoder.encode(toJson(body)), contentType: 'application/json' };
}

function toJson(value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value, function (this: Record<string, unknown>, k, v: unknown) {
      // What toJSON made of a value is honoured (a Date's text), except bytes': a Buffer's toJSON is
      // an array of numbers, which nothing reads back as bytes.
      const raw = this[k];
      if (ArrayBuffer.isView(raw) || raw instanceof ArrayBuffer) throw new InvalidArgument(`body is not serializable: contains a ${raw.constructor.name} (bytes go as the whole body)`);
      if (typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol') throw new InvalidArgument(`body is not serializable: contains a ${typeof v}`);
      if (typeof v === 'number' && !Number.isFinite(v)) throw new InvalidArgument(`body is not serializable: contains ${v}`);
      // A Map, a Set, bytes or a class instance would turn into '{}' or worse: only plain data is JSON.
      if (typeof v === 'object' && v !== null && !Array.isArray(v) && ![Object.prototype, null].includes(Object.getPrototypeOf(v) as object | null)) {
        throw new InvalidArgument(`body is not serializable: contains a ${(v as object).constructor?.name ?? 'non-plain object'} (plain objects, arrays, strings, numbers, booleans and null only; bytes as the whole body)`);
      }
      return v;
    });
  } catch (e) {
    if (e instanceof InvalidArgument) throw e;
    throw new InvalidArgument(`body is not serializable: ${(e as Error).message}`);
  }
  if (json === undefined) throw new InvalidArgument(`body is not serializable: ${typeof value}`);
  return json;
}
