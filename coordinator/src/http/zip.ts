// A store-only (uncompressed) ZIP written as a stream: each file's header,
// its bytes, and at the end the central directory. Images are compressed
// already, so storing them costs nothing, and a whole job downloads without
// being held in memory or on disk. Past 65,534 files or 4 GiB it writes the
// ZIP64 records (APPNOTE 4.3.14-4.3.15, extra field 0x0001), which every
// current unzip reads; smaller archives stay plain ZIP for old readers. One
// file must stay under 4 GiB (an image does).
import type { Writable } from 'node:stream';

/** A 16- or 32-bit field holding this value says "see the ZIP64 record". */
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
/** Central directory records written per chunk, so a huge job's directory is not one giant buffer. */
const DIRECTORY_CHUNK = 4096;

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
    if (data.length >= U32_MAX) throw new Error('one file of this ZIP must be under 4 GiB');
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
    const start = this.offset;
    let parts: Buffer[] = [];
    let size = 0;
    for (const e of this.entries) {
      // An offset past 4 GiB moves to a ZIP64 extra field; sizes never need to (one file < 4 GiB).
      const far = e.offset >= U32_MAX;
      const extra = far ? Buffer.alloc(12) : Buffer.alloc(0);
      if (far) {
        extra.writeUInt16LE(0x0001, 0);
        extra.writeUInt16LE(8, 2);
        extra.writeBigUInt64LE(BigInt(e.offset), 4);
      }
      const c = Buffer.alloc(46);
      c.writeUInt32LE(0x02014b50, 0);
      c.writeUInt16LE(far ? 45 : 20, 4); // made by
      c.writeUInt16LE(far ? 45 : 20, 6); // needed
      c.writeUInt16LE(0x0800, 8);
      c.writeUInt16LE(0, 10);
      c.writeUInt16LE(this.stamp.time, 12);
      c.writeUInt16LE(this.stamp.date, 14);
      c.writeUInt32LE(e.crc, 16);
      c.writeUInt32LE(e.size, 20);
      c.writeUInt32LE(e.size, 24);
      c.writeUInt16LE(e.name.length, 28);
      c.writeUInt16LE(extra.length, 30);
      c.writeUInt32LE(far ? U32_MAX : e.offset, 42);
      parts.push(c, e.name, extra);
      size += c.length + e.name.length + extra.length;
      if (parts.length >= DIRECTORY_CHUNK * 3) {
        await this.write(Buffer.concat(parts));
        parts = [];
      }
    }
    const count = this.entries.length;
    const zip64 = count >= U16_MAX || start >= U32_MAX || size >= U32_MAX;
    if (zip64) {
      const recordAt = start + size;
      const record = Buffer.alloc(56);
      record.writeUInt32LE(0x06064b50, 0);
      record.writeBigUInt64LE(44n, 4); // size of the rest of this record
      record.writeUInt16LE(45, 12);
      record.writeUInt16LE(45, 14);
      // Disk numbers (16, 20) stay 0: one file.
      record.writeBigUInt64LE(BigInt(count), 24);
      record.writeBigUInt64LE(BigInt(count), 32);
      record.writeBigUInt64LE(BigInt(size), 40);
      record.writeBigUInt64LE(BigInt(start), 48);
      const locator = Buffer.alloc(20);
      locator.writeUInt32LE(0x07064b50, 0);
      locator.writeBigUInt64LE(BigInt(recordAt), 8);
      locator.writeUInt32LE(1, 16); // disks in all
      parts.push(record, locator);
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(Math.min(count, U16_MAX), 8);
    end.writeUInt16LE(Math.min(count, U16_MAX), 10);
    end.writeUInt32LE(Math.min(size, U32_MAX), 12);
    end.writeUInt32LE(Math.min(start, U32_MAX), 16);
    parts.push(end);
    await this.write(Buffer.concat(parts));
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
