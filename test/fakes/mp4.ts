/** Minimal ISO-BMFF reader for tests: the brand, the movie duration and the first video track's size. */
export interface Mp4Info {
  brand: string;
  durationSeconds: number;
  width: number;
  height: number;
  /** True when `moov` comes before `mdat` (+faststart). */
  faststart: boolean;
}

interface Box {
  type: string;
  start: number;
  end: number;
  body: number;
}

const boxes = (buf: Buffer, from: number, to: number): Box[] => {
  const out: Box[] = [];
  let offset = from;
  while (offset + 8 <= to) {
    let size = buf.readUInt32BE(offset);
    const type = buf.toString('latin1', offset + 4, offset + 8);
    let header = 8;
    if (size === 1) {
      size = Number(buf.readBigUInt64BE(offset + 8));
      header = 16;
    } else if (size === 0) size = to - offset;
    if (size < header) break;
    out.push({ type, start: offset, end: offset + size, body: offset + header });
    offset += size;
  }
  return out;
};

export const parseMp4 = (buf: Buffer): Mp4Info => {
  const top = boxes(buf, 0, buf.length);
  const ftyp = top.find((b) => b.type === 'ftyp');
  const moov = top.find((b) => b.type === 'moov');
  const mdat = top.find((b) => b.type === 'mdat');
  if (!ftyp || !moov) throw new Error('not an MP4: ftyp or moov missing');
  const children = boxes(buf, moov.body, moov.end);
  const mvhd = children.find((b) => b.type === 'mvhd');
  if (!mvhd) throw new Error('mvhd missing');
  const version = buf.readUInt8(mvhd.body);
  const timescale = version === 1 ? buf.readUInt32BE(mvhd.body + 20) : buf.readUInt32BE(mvhd.body + 12);
  const duration =
    version === 1 ? Number(buf.readBigUInt64BE(mvhd.body + 24)) : buf.readUInt32BE(mvhd.body + 16);
  let width = 0;
  let height = 0;
  for (const trak of children.filter((b) => b.type === 'trak')) {
    const tkhd = boxes(buf, trak.body, trak.end).find((b) => b.type === 'tkhd');
    if (!tkhd) continue;
    const v = buf.readUInt8(tkhd.body);
    const sizeOffset = tkhd.body + (v === 1 ? 88 : 76);
    const w = buf.readUInt32BE(sizeOffset) / 65536;
    const h = buf.readUInt32BE(sizeOffset + 4) / 65536;
    if (w > 0 && h > 0) {
      width = w;
      height = h;
      break;
    }
  }
  return {
    brand: buf.toString('latin1', ftyp.body, ftyp.body + 4),
    durationSeconds: duration / timescale,
    width,
    height,
    faststart: mdat ? moov.start < mdat.start : true,
  };
};
