// A store-only (uncompressed) ZIP written as a stream: each file's header,
// its bytes, and at the end the central directory. Images are compressed
// already, so storing them costs nothing, and a whole job downloads without
// being held in memory or on disk. No ZIP64: at most 65,535 files and 4 GiB.
import type { Writable } from 'node:stream';

export const ZIP_MAX_FILES = 0xffff;
const ZIP_MAX_BYTES = 0xffffffff;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (CRC_TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface Entry {
  name: Buffer;
  crc: number;
  size: number;
  offset: number;
}

/** DOS date/time of "now" for every entry (ZIP's only timestamp field). */
function dosTime(d: Date): { time: number; date: number } {
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
    date: ((Math.max(1980, d.getFullYear()) - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

export class ZipWriter {
  private readonly entries: Entry[] = [];
  private offset = 0;
  private readonly stamp = dosTime(new Date());

  /** `write` resolves when the sink wants more (backpressure). */
  constructor(private readonly write: (chunk: Buffer) => Promise<void>) {}

  async add(name: string, data: Uint8Array): Promise<void> {
    if (this.entries.length >= ZIP_MAX_FILES) throw new Error(`a ZIP holds at most ${ZIP_MAX_FILES} files`);
    if (this.offset + data.length > ZIP_MAX_BYTES) throw new Error('a ZIP without ZIP64 holds at most 4 GiB');
    const nameBuf = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4); // version needed
    h.writeUInt16LE(0x0800, 6); // UTF-8 names
    h.writeUInt16LE(0, 8); // stored
    h.writeUInt16LE(this.stamp.time, 10);
    h.writeUInt16LE(this.stamp.date, 12);
    h.writeUInt32LE(crc, 14);
    h.writeUInt32LE(data.length, 18);
    h.writeUInt32LE(data.length, 22);
    h.writeUInt16LE(nameBuf.length, 26);
    h.writeUInt16LE(0, 28);
    this.entries.push({ name: nameBuf, crc, size: data.length, offset: this.offset });
    await this.write(Buffer.concat([h, nameBuf]));
    await this.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.offset += h.length + nameBuf.length + data.length;
  }

  async finish(): Promise<void> {
    const parts: Buffer[] = [];
    let size = 0;
    for (const e of this.entries) {
      const c = Buffer.alloc(46);
      c.writeUInt32LE(0x02014b50, 0);
      c.writeUInt16LE(20, 4); // made by
      c.writeUInt16LE(20, 6); // needed
      c.writeUInt16LE(0x0800, 8);
      c.writeUInt16LE(0, 10);
      c.writeUInt16LE(this.stamp.time, 12);
      c.writeUInt16LE(this.stamp.date, 14);
      c.writeUInt32LE(e.crc, 16);
      c.writeUInt32LE(e.size, 20);
      c.writeUInt32LE(e.size, 24);
      c.writeUInt16LE(e.name.length, 28);
      c.writeUInt32LE(e.offset, 42);
      parts.push(c, e.name);
      size += c.length + e.name.length;
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(this.entries.length, 8);
    end.writeUInt16LE(this.entries.length, 10);
    end.writeUInt32LE(size, 12);
    end.writeUInt32LE(this.offset, 16);
    await this.write(Buffer.concat([...parts, end]));
  }
}

/** A writer into a Node stream that waits for 'drain' when the stream's buffer is full. */
export function streamSink(out: Writable, signal: AbortSignal): (chunk: Buffer) => Promise<void> {
  return async (chunk) => {
    if (signal.aborted) throw new Error('the download was abandoned');
    if (out.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = () => { out.off('drain', done); signal.removeEventListener('abort', done); resolve(); };
      out.once('drain', done);
      signal.addEventListener('abort', done, { once: true });
    });
  };
}
