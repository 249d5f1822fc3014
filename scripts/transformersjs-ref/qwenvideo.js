// qwenvideo.js is the transformers.js 4.3.1 reference for vlmrun's
// Qwen2-VL video prompts (models/qwen2vl/video_test.go). transformers.js
// 4.3.1 has no Qwen2-VL video processor and its generate merges only
// image features (image_token_id, pixel_values, image_grid_thw), so the
// caller gives the video's input_ids, pixel_values_videos and
// video_grid_thw as vlmrun made them, and for each case this script
//
//   - renders the folder's chat template for one user message holding a
//     video part then the text (processor.apply_chat_template);
//   - calls model.get_rope_index(input_ids, null, video_grid_thw, mask)
//     directly: the video's 3-D position ids and rope_delta;
//   - generates greedily with the same pixel values as pixel_values and
//     video_grid_thw as image_grid_thw, the video tokens of input_ids
//     replaced by the image token (its merge looks for that id only; the
//     placeholder rows are overwritten by the features either way, and for
//     Qwen2-VL get_rope_index lays out an image block and a video block of
//     the same grid alike, so this is the computation Python runs for the
//     video).
//
// A case may also hold one image beside the video (image_grid_thw,
// image_pixels, image_first: Python's Qwen2VLProcessor takes both in one
// prompt): the message is then image, video, text (or video, image,
// text), get_rope_index gets both grids, and generate gets both inputs'
// pixel values in prompt order as pixel_values with both grids as
// image_grid_thw; the vision graph is run once per grid (as Qwen2-VL's
// vision tower treats each grid on its own, cu_seqlens) and the features
// concatenated.
//
// Usage: node qwenvideo.js CASES.json OUT_DIR
// CASES.json: [{name, model, prompt, input_ids, video_grid_thw, pixels
// (little-endian float32 file, patches × patch_dim), patch_dim, image_token_id,
// video_token_id, max_new_tokens}]. Writes OUT_DIR/<name>.json:
// {prompt_text, position_ids ([3, 1, L] row-major), rope_delta,
// generated_ids}. Offline: every file must be local.
'use strict';
const fs = require('fs');
const path = require('path');

const offline = require('./offline'); // no network; transformers.js offline

async function main() {
  const [casesPath, outDir] = process.argv.slice(2);
  if (!casesPath || !outDir) {
    console.error('usage: node qwenvideo.js CASES.json OUT_DIR');
    process.exit(2);
  }
  const tjs = offline.transformers();
  const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
  fs.mkdirSync(outDir, { recursive: true });
  const load = offline.modelLoader(tjs);
  for (const c of cases) {
    const { processor, model } = await load(c.model);
    const mixed = Array.isArray(c.image_grid_thw);
    let content = [{ type: 'video' }];
    if (mixed) {
      content = c.image_first ? [{ type: 'image' }, { type: 'video' }] : [{ type: 'video' }, { type: 'image' }];
    }
    const text = processor.apply_chat_template(
      [{ role: 'user', content: [...content, { type: 'text', text: c.prompt }] }],
      { add_generation_prompt: true });
    const L = c.input_ids.length;
    const ids = new tjs.Tensor('int64', BigInt64Array.from(c.input_ids.map(BigInt)), [1, L]);
    const mask = new tjs.Tensor('int64', new BigInt64Array(L).fill(1n), [1, L]);
    const grid = new tjs.Tensor('int64', BigInt64Array.from(c.video_grid_thw.map(BigInt)), [1, 3]);
    const igrid = mixed ? new tjs.Tensor('int64', BigInt64Array.from(c.image_grid_thw.map(BigInt)), [1, 3]) : null;
    const [pos, delta] = model.get_rope_index(ids, igrid, grid, mask);
    const rec = {
      prompt_text: text,
      position_ids: Array.from(pos.data, Number),
      rope_delta: Array.from(delta.data, Number),
    };
    if (c.max_new_tokens > 0) {
      const read = (f) => {
        const raw = fs.readFileSync(f);
        return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      };
      let px = read(c.pixels);
      let grids = grid;
      const dim = c.patch_dim;
      if (mixed) {
        const ipx = read(c.image_pixels);
        const [a, b] = c.image_first ? [ipx, px] : [px, ipx];
        px = new Float32Array(a.length + b.length);
        px.set(a);
        px.set(b, a.length);
        const g = c.image_first ? [...c.image_grid_thw, ...c.video_grid_thw] : [...c.video_grid_thw, ...c.image_grid_thw];
        grids = new tjs.Tensor('int64', BigInt64Array.from(g.map(BigInt)), [2, 3]);
      }
      const swapped = c.input_ids.map((x) => (x === c.video_token_id ? c.image_token_id : x));
      const encode = model.encode_image.bind(model);
      if (mixed) {
        model.encode_image = async ({ pixel_values, image_grid_thw }) => {
          const g = image_grid_thw.tolist();
          const parts = [];
          let at = 0;
          for (const [t, h, w] of g) {
            const n = Number(t * h * w);
            const rows = pixel_values.data.slice(at * dim, (at + n) * dim);
            parts.push(await encode({
              pixel_values: new tjs.Tensor('float32', rows, [n, dim]),
              image_grid_thw: new tjs.Tensor('int64', BigInt64Array.from([t, h, w].map(BigInt)), [1, 3]),
            }));
            at += n;
          }
          return tjs.cat(parts, 0);
        };
      }
      const out = await model.generate({
        input_ids: new tjs.Tensor('int64', BigInt64Array.from(swapped.map(BigInt)), [1, L]),
        attention_mask: mask,
        pixel_values: new tjs.Tensor('float32', px, [px.length / dim, dim]),
        image_grid_thw: grids,
        max_new_tokens: c.max_new_tokens,
        do_sample: false,
      });
      model.encode_image = encode;
      rec.generated_ids = Array.from(out.data, Number).slice(L);
    }
    fs.writeFileSync(path.join(outDir, `${c.name}.json`), JSON.stringify(rec) + '\n');
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
