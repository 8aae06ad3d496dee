/** Positioned reads: an open file (`FileHandle`), or bytes in memory (`bytesReader`). */
export interface PositionedReader {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/** A `PositionedReader` over bytes already in memory. */
export const bytesReader = (bytes: Buffer): PositionedReader => ({
  read: async (buffer, offset, length, position) => ({
    bytesRead:
      position >= bytes.length
        ? 0
        : bytes.copy(buffer, offset, position, Math.min(bytes.length, position + length)),
  }),
});

/** What the gallery needs to show a video whole: its display size and length. Fields are absent when unreadable. */
export interface Mp4Info {
  width?: number;
  height?: number;
  durationSeconds?: number;
}

interface BoxHeader {
  type: string;
  /** Where the box's body starts (after size, type and any 64-bit size). */
  body: number;
  end: number;
}

/** Bounds on work for a hostile or broken file: boxes visited and bytes read for one leaf box. */
const MAX_BOXES = 4096;
const MAX_LEAF_BYTES = 4096;

const readAt = async (file: PositionedReader, position: number, length: number): Promise<Buffer> => {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
};

/** The boxes between `from` and `to`, read one header at a time (positioned reads, no whole-file read). */
async function* boxesIn(
  file: PositionedReader,
  from: number,
  to: number,
  budget: { boxes: number },
): AsyncGenerator<BoxHeader> {
  let offset = from;
  while (offset + 8 <= to) {
    budget.boxes -= 1;
    if (budget.boxes < 0) return;
    const header = await readAt(file, offset, 16);
    if (header.length < 8) return;
    let size = header.readUInt32BE(0);
    const type = header.toString('latin1', 4, 8);
    let headerSize = 8;
    if (size === 1) {
      if (header.length < 16) return;
      size = Number(header.readBigUInt64BE(8));
      headerSize = 16;
    } else if (size === 0) {
      size = to - offset; // extends to the end of its parent
    }
    if (size < headerSize || offset + size > to) return;
    yield { type, body: offset + headerSize, end: offset + size };
    offset += size;
  }
}

const fixed16 = (b: Buffer, at: number): number => b.readUInt32BE(at) / 65536;

/** Track width/height from tkhd (16.16 fixed point), swapped when the matrix turns the picture a quarter. */
const tkhdSize = (b: Buffer): { width: number; height: number } | undefined => {
  const version = b[0];
  const matrixAt = version === 1 ? 52 : 40;
  const sizeAt = matrixAt + 36;
  if (sizeAt + 8 > b.length) return undefined;
  const width = Math.round(fixed16(b, sizeAt));
  const height = Math.round(fixed16(b, sizeAt + 4));
  if (width <= 0 || height <= 0) return undefined;
  // Matrix {a b u, c d v, x y w}: a = d = 0 means a 90° or 270° rotation.
  const a = b.readInt32BE(matrixAt);
  const d = b.readInt32BE(matrixAt + 16);
  return a === 0 && d === 0 ? { width: height, height: width } : { width, height };
};

const mvhdDuration = (b: Buffer): number | undefined => {
  const version = b[0];
  if (version === 1 && b.length >= 32) {
    const timescale = b.readUInt32BE(20);
    const duration = Number(b.readBigUInt64BE(24));
    return timescale > 0 ? duration / timescale : undefined;
  }
  if (version === 0 && b.length >= 20) {
    const timescale = b.readUInt32BE(12);
    const duration = b.readUInt32BE(16);
    return timescale > 0 ? duration / timescale : undefined;
  }
  return undefined;
};

/** A trak's handler ('vide', 'soun', ...) and its tkhd size. */
async function readTrak(
  file: PositionedReader,
  trak: BoxHeader,
  budget: { boxes: number },
): Promise<{ handler?: string; size?: { width: number; height: number } }> {
  const out: { handler?: string; size?: { width: number; height: number } } = {};
  for await (const box of boxesIn(file, trak.body, trak.end, budget)) {
    if (box.type === 'tkhd') {
      out.size = tkhdSize(await readAt(file, box.body, Math.min(MAX_LEAF_BYTES, box.end - box.body)));
    } else if (box.type === 'mdia') {
      for await (const child of boxesIn(file, box.body, box.end, budget)) {
        if (child.type !== 'hdlr') continue;
        const hdlr = await readAt(file, child.body, Math.min(12, child.end - child.body));
        if (hdlr.length >= 12) out.handler = hdlr.toString('latin1', 8, 12);
      }
    }
  }
  return out;
}

/**
 * Reads an MP4's duration (moov/mvhd timescale and duration) and its video track's display size
 * (trak/tkhd width and height) with small positioned reads, so a moov at the end of a 2 GB file costs a
 * few seeks. Never throws for bad bytes: whatever cannot be read is simply absent.
 */
export async function readMp4Info(file: PositionedReader, size: number): Promise<Mp4Info> {
  const info: Mp4Info = {};
  const budget = { boxes: MAX_BOXES };
  try {
    for await (const top of boxesIn(file, 0, size, budget)) {
      if (top.type !== 'moov') continue;
      let fallback: { width: number; height: number } | undefined;
      for await (const box of boxesIn(file, top.body, top.end, budget)) {
        if (box.type === 'mvhd') {
          const duration = mvhdDuration(await readAt(file, box.body, Math.min(32, box.end - box.body)));
          if (duration !== undefined && Number.isFinite(duration)) {
            info.durationSeconds = Math.round(duration * 1000) / 1000;
          }
        } else if (box.type === 'trak' && info.width === undefined) {
          const trak = await readTrak(file, box, budget);
          if (trak.size && trak.handler === 'vide') Object.assign(info, trak.size);
          else if (trak.size && trak.handler === undefined) fallback ??= trak.size;
        }
      }
      if (info.width === undefined && fallback) Object.assign(info, fallback);
      return info;
    }
  } catch {
    // A read error on a file we just wrote: store the output without the fields.
  }
  return info;
}
