export type SniffedType =
  | { kind: 'image'; contentType: 'image/png'; ext: 'png' }
  | { kind: 'image'; contentType: 'image/jpeg'; ext: 'jpg' }
  | { kind: 'image'; contentType: 'image/webp'; ext: 'webp' }
  | { kind: 'video'; contentType: 'video/mp4'; ext: 'mp4' }
  | { kind: 'video'; contentType: 'video/webm'; ext: 'webm' };

/** How many leading bytes persist keeps for sniffing and image dimensions. */
export const SNIFF_BYTES = 256 * 1024;

const ascii = (bytes: Uint8Array, start: number, length: number): string =>
  Buffer.from(bytes.subarray(start, start + length)).toString('latin1');

/** The real type from the magic bytes; null for anything we do not store. */
export const sniffType = (head: Uint8Array): SniffedType | null => {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) {
    return { kind: 'image', contentType: 'image/png', ext: 'png' };
  }
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) {
    return { kind: 'image', contentType: 'image/jpeg', ext: 'jpg' };
  }
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') {
    return { kind: 'image', contentType: 'image/webp', ext: 'webp' };
  }
  if (b.length >= 12 && ascii(b, 4, 4) === 'ftyp') {
    return { kind: 'video', contentType: 'video/mp4', ext: 'mp4' };
  }
  if (b.length >= 4 && b.readUInt32BE(0) === 0x1a45dfa3) {
    return { kind: 'video', contentType: 'video/webm', ext: 'webm' };
  }
  return null;
};

export interface Dimensions {
  width: number;
  height: number;
}

const jpegDimensions = (b: Buffer): Dimensions | undefined => {
  let offset = 2;
  while (offset + 9 < b.length) {
    if (b[offset] !== 0xff) return undefined;
    const marker = b[offset + 1]!;
    if (marker === 0xff) {
      offset += 1;
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      offset += 2;
      continue;
    }
    const length = b.readUInt16BE(offset + 2);
    // SOF0..SOF15, except DHT (c4), JPG (c8) and DAC (cc).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: b.readUInt16BE(offset + 5), width: b.readUInt16BE(offset + 7) };
    }
    offset += 2 + length;
  }
  return undefined;
};

const webpDimensions = (b: Buffer): Dimensions | undefined => {
  if (b.length < 30) return undefined;
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8 ' && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a) {
    return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  }
  if (chunk === 'VP8L' && b[20] === 0x2f) {
    const bits = b.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') {
    return { width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
  }
  return undefined;
};

/** Width and height from PNG IHDR, JPEG SOF or the WebP header, when they are in the first bytes. */
export const imageDimensions = (type: SniffedType, head: Uint8Array): Dimensions | undefined => {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (type.ext === 'png') {
    if (b.length < 24 || ascii(b, 12, 4) !== 'IHDR') return undefined;
    return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  }
  if (type.ext === 'jpg') return jpegDimensions(b);
  if (type.ext === 'webp') return webpDimensions(b);
  return undefined;
};
