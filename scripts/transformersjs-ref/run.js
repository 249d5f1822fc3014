// run.js runs transformers.js 4.3.1 (onnxruntime-node) offline on model
// folders, the reference for vlmrun's model-family differential tests.
//
// Usage: node run.js CASES.json OUT_DIR
// CASES.json is a list of {name, model, image, prompt | task | text (+ images_first), dtype (one
// dtype, or per file as vlmrun writes it: fp32,decoder_model_merged=q8),
// max_new_tokens}; task (Florence-2) is the task token or text given to the
// processor, and generated_ids then start with the decoder start token;
// expand_token with images (a list) instead of image is the path of a model
// whose processor has no tokenizer (LLaVA-OneVision, below).
// For each case it writes OUT_DIR/<name>.json ({input_ids, generated_ids,
// pixel_shape, rows, cols; image_grid_thw, position_ids and rope_delta for
// Qwen2-VL; features_per_image with expand_token}) and OUT_DIR/<name>.pixels.f32 (pixel_values,
// little-endian float32). Network access is disabled: every file must be local.
'use strict';
const fs = require('fs');
const path = require('path');

const offline = require('./offline'); // no network; transformers.js offline

// parseDType turns vlmrun's --dtype syntax into transformers.js's option:
// "q4" stays a string; "fp32,decoder_model_merged=q8" (a default and
// per-file choices) becomes an object keyed by file base name.
function parseDType(s) {
  if (!s.includes('=')) return s;
  const files = ['embed_tokens', 'vision_encoder', 'decoder_model_merged', 'encoder_model', 'model'];
  let def = 'fp32';
  const per = {};
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [file, dt] = part.split('=');
    if (dt === undefined) def = file; else per[file.trim()] = dt.trim();
  }
  return Object.fromEntries(files.map((f) => [f, per[f] ?? def]).concat(Object.entries(per)));
}

async function main() {
  const [casesPath, outDir] = process.argv.slice(2);
  if (!casesPath || !outDir) {
    console.error('usage: node run.js CASES.json OUT_DIR');
    process.exit(2);
  }
  const tjs = offline.transformers();
  const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
  fs.mkdirSync(outDir, { recursive: true });
  const loaded = new Map();
  for (const c of cases) {
    const key = `${c.model}|${c.dtype || 'fp32'}`;
    if (!loaded.has(key)) {
      const processor = await tjs.AutoProcessor.from_pretrained(c.model);
      const model = await tjs.AutoModelForImageTextToText.from_pretrained(c.model, {
        dtype: parseDType(c.dtype || 'fp32'), device: 'cpu',
      });
      loaded.set(key, { processor, model });
    }
    const { processor, model } = loaded.get(key);
    let text, inputs, promptLen, featuresPerImage;
    let image = null;
    if (c.image !== undefined) image = await tjs.RawImage.read(c.image);
    if (c.expand_token !== undefined) {
      // A model whose processor has no tokenizer (LLaVA-OneVision: in 4.3.1
      // AutoProcessor gives the bare image processor): the tokenizer renders
      // the chat template (one user message with one image part per image,
      // then prompt) unless text is given, the image processor makes
      // pixel_values for all images, and each expand_token becomes one copy
      // per feature the vision encoder returns for an image, as a caller of
      // transformers.js must do before generate.
      const tokenizer = await tjs.AutoTokenizer.from_pretrained(c.model);
      const images = await Promise.all(c.images.map((p) => tjs.RawImage.read(p)));
      const vision = await processor(images);
      text = c.text ?? tokenizer.apply_chat_template(
        [{ role: 'user', content: [...images.map(() => ({ type: 'image' })), { type: 'text', text: c.prompt }] }],
        { tokenize: false, add_generation_prompt: true });
      const feats = await model.encode_image({ pixel_values: vision.pixel_values });
      featuresPerImage = feats.dims.length === 3 ? feats.dims[1] : feats.dims[0] / images.length;
      inputs = { ...tokenizer(text.replaceAll(c.expand_token, c.expand_token.repeat(featuresPerImage))), ...vision };
      promptLen = inputs.input_ids.dims[1];
    } else if (c.task !== undefined) {
      // Florence-2: a task token (or free text) and the image; the
      // generated sequence starts with the decoder start token.
      text = c.task;
      inputs = await processor(image, c.task);
      promptLen = 0;
    } else if (c.text !== undefined) {
      // The prompt text as given (no chat template), e.g. LLaVA-1.5's
      // "USER: <image>\n... ASSISTANT:"; images_first for processors
      // called as processor(images, text) (LlavaProcessor).
      text = c.text;
      inputs = c.images_first ? await processor([image], text) : await processor(text, [image]);
      promptLen = inputs.input_ids.dims[1];
    } else {
      const messages = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: c.prompt }] }];
      text = processor.apply_chat_template(messages, { add_generation_prompt: true });
      inputs = await processor(text, [image]);
      promptLen = inputs.input_ids.dims[1];
    }
    const out = await model.generate({ ...inputs, max_new_tokens: c.max_new_tokens, do_sample: false });
    const all = Array.from(out.data, Number);
    const pv = inputs.pixel_values;
    fs.writeFileSync(path.join(outDir, `${c.name}.pixels.f32`), Buffer.from(pv.data.buffer, pv.data.byteOffset, pv.data.byteLength));
    const rec = {
      prompt_text: text,
      input_ids: Array.from(inputs.input_ids.data, Number),
      generated_ids: all.slice(promptLen),
      pixel_shape: pv.dims,
      rows: inputs.rows, cols: inputs.cols,
      features_per_image: featuresPerImage,
    };
    if (inputs.image_grid_thw) {
      // Qwen2-VL: the grid, and the 3-D (t, h, w) position ids of the
      // prompt as get_rope_index computes them ([3, 1, L], row-major).
      rec.image_grid_thw = Array.from(inputs.image_grid_thw.data, Number);
      const [pos, delta] = model.get_rope_index(inputs.input_ids, inputs.image_grid_thw, null, inputs.attention_mask);
      rec.position_ids = Array.from(pos.data, Number);
      rec.rope_delta = Array.from(delta.data, Number);
    }
    fs.writeFileSync(path.join(outDir, `${c.name}.json`), JSON.stringify(rec) + '\n');
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
