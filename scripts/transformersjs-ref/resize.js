// resize.js resizes raw images with transformers.js 4.3.1's RawImage.resize
// (sharp / libvips), the reference for encoder/vips's differential test.
//
// Usage: node resize.js CASES.json DIR
// CASES.json is a list of {name, width, height, channels, out_width,
// out_height, and one of: resample (RawImage.resize with that PIL filter
// id), kernel (sharp's resize({width, height, fit: 'fill', kernel})),
// interpolator (sharp's affine([out_width/width, 0, 0,
// out_height/height], {interpolator}))}. It reads DIR/<name>.in (the
// pixels, interleaved bytes) and writes DIR/<name>.out (the result's
// pixels) and DIR/<name>.json ({width, height, channels} of the result).
'use strict';
const fs = require('fs');
const path = require('path');
const { RawImage } = require('@huggingface/transformers');
const sharp = require('sharp');

async function resizeOne(c, data) {
  if (c.resample !== undefined) {
    const img = new RawImage(new Uint8ClampedArray(data), c.width, c.height, c.channels);
    const out = await img.resize(c.out_width, c.out_height, { resample: c.resample });
    return { data: Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength), width: out.width, height: out.height, channels: out.channels };
  }
  let img = sharp(data, { raw: { width: c.width, height: c.height, channels: c.channels } });
  if (c.kernel !== undefined) {
    img = img.resize({ width: c.out_width, height: c.out_height, fit: 'fill', kernel: c.kernel });
  } else {
    img = img.affine([c.out_width / c.width, 0, 0, c.out_height / c.height], { interpolator: c.interpolator });
  }
  const { data: out, info } = await img.raw().toBuffer({ resolveWithObject: true });
  return { data: out, width: info.width, height: info.height, channels: info.channels };
}

async function main() {
  const [casesPath, dir] = process.argv.slice(2);
  if (!casesPath || !dir) {
    throw new Error('usage: node resize.js CASES.json DIR');
  }
  const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
  for (const c of cases) {
    const data = fs.readFileSync(path.join(dir, c.name + '.in'));
    const r = await resizeOne(c, data);
    fs.writeFileSync(path.join(dir, c.name + '.out'), r.data);
    fs.writeFileSync(path.join(dir, c.name + '.json'), JSON.stringify({ width: r.width, height: r.height, channels: r.channels }));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
