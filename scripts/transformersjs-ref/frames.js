// frames.js runs transformers.js 4.3.1 (onnxruntime-node) offline on one
// prompt over several images (video frames), each unsplit
// (do_image_splitting: false), the reference for vlmrun's multi-image
// SmolVLM prompts (models/smolvlm/frames_test.go).
//
// Usage: node frames.js MODEL_DIR MAX_NEW_TOKENS PROMPT IMAGE...
// Prints {prompt_text, input_ids, generated_ids, pixel_shape} as JSON.
'use strict';
const offline = require('./offline'); // no network; transformers.js offline

async function main() {
  const [model, maxNew, prompt, ...images] = process.argv.slice(2);
  if (!model || !images.length) {
    console.error('usage: node frames.js MODEL_DIR MAX_NEW_TOKENS PROMPT IMAGE...');
    process.exit(2);
  }
  const tjs = offline.transformers();
  const processor = await tjs.AutoProcessor.from_pretrained(model);
  const m = await tjs.AutoModelForImageTextToText.from_pretrained(model, { dtype: 'fp32', device: 'cpu' });
  const raw = await Promise.all(images.map((p) => tjs.RawImage.read(p)));
  const content = images.map(() => ({ type: 'image' })).concat([{ type: 'text', text: prompt }]);
  const text = processor.apply_chat_template([{ role: 'user', content }], { add_generation_prompt: true });
  const inputs = await processor(text, raw, { do_image_splitting: false });
  const out = await m.generate({ ...inputs, max_new_tokens: Number(maxNew), do_sample: false });
  const all = Array.from(out.data, Number);
  const n = inputs.input_ids.dims[1];
  console.log(JSON.stringify({
    prompt_text: text,
    input_ids: Array.from(inputs.input_ids.data, Number),
    generated_ids: all.slice(n),
    pixel_shape: inputs.pixel_values.dims,
  }));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
