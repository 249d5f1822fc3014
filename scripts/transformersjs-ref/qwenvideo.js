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
// Usage: node qwenvideo.js CASES.json OUT_DIR
// CASES.json: [{name, model, prompt, input_ids, video_grid_thw, pixels
// (little-endian float32 file, patches × patch_dim), patch_dim, image_token_id,
// video_token_id, max_new_tokens}]. Writes OUT_DIR/<name>.json:
// {prompt_text, position_ids ([3, 1, L] row-major), rope_delta,
// generated_ids}. Offline: every file must be local.
'use strict';
const fs = require('fs');
const path = require('path');

globalThis.fetch = async (url) => {
  throw new Error(`network access attempted: ${url}`);
};

async function main() {
  const [casesPath, outDir] = process.argv.slice(2);
  if (!casesPath || !outDir) {
    console.error('usage: node qwenvideo.js CASES.json OUT_DIR');
    process.exit(2);
  }
  const tjs = require('@huggingface/transformers');
  tjs.env.allowRemoteModels = false;
  tjs.env.useFSCache = false;
  tjs.env.useBrowserCache = false;
  const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
  fs.mkdirSync(outDir, { recursive: true });
  const loaded = new Map();
  for (const c of cases) {
    if (!loaded.has(c.model)) {
      const processor = await tjs.AutoProcessor.from_pretrained(c.model);
      const model = await tjs.AutoModelForImageTextToText.from_pretrained(c.model, { dtype: 'fp32', device: 'cpu' });
      loaded.set(c.model, { processor, model });
    }
    const { processor, model } = loaded.get(c.model);
    const text = processor.apply_chat_template(
      [{ role: 'user', content: [{ type: 'video' }, { type: 'text', text: c.prompt }] }],
      { add_generation_prompt: true });
    const L = c.input_ids.length;
    const ids = new tjs.Tensor('int64', BigInt64Array.from(c.input_ids.map(BigInt)), [1, L]);
    const mask = new tjs.Tensor('int64', new BigInt64Array(L).fill(1n), [1, L]);
    const grid = new tjs.Tensor('int64', BigInt64Array.from(c.video_grid_thw.map(BigInt)), [1, 3]);
    const [pos, delta] = model.get_rope_index(ids, null, grid, mask);
    const rec = {
      prompt_text: text,
      position_ids: Array.from(pos.data, Number),
      rope_delta: Array.from(delta.data, Number),
    };
    if (c.max_new_tokens > 0) {
      const raw = fs.readFileSync(c.pixels);
      const px = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      const dim = c.patch_dim;
      const swapped = c.input_ids.map((x) => (x === c.video_token_id ? c.image_token_id : x));
      const out = await model.generate({
        input_ids: new tjs.Tensor('int64', BigInt64Array.from(swapped.map(BigInt)), [1, L]),
        attention_mask: mask,
        pixel_values: new tjs.Tensor('float32', px, [px.length / dim, dim]),
        image_grid_thw: grid,
        max_new_tokens: c.max_new_tokens,
        do_sample: false,
      });
      rec.generated_ids = Array.from(out.data, Number).slice(L);
    }
    fs.writeFileSync(path.join(outDir, `${c.name}.json`), JSON.stringify(rec) + '\n');
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
