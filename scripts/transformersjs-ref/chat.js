// chat.js runs transformers.js 4.3.1 (onnxruntime-node, fp32) offline on
// conversations (issue 19): the reference for vlmrun's chat differential
// tests (internal/tjsref.RunChat).
//
// Usage: node chat.js CASES.json OUT_DIR
// CASES.json is a list of {name, model, messages, images, chat_template,
// images_first, text_only, python_rope, max_new_tokens}:
//   - messages are apply_chat_template's messages (content: a list of
//     {type: "image"} and {type: "text", text} parts), rendered with
//     add_generation_prompt; chat_template, when set, is the template text
//     (for a folder whose template transformers.js does not read itself,
//     e.g. chat_template.json);
//   - images are the image files of the image parts, in conversation order,
//     given to the processor as processor(text, images), or
//     processor(images, text) with images_first (LlavaProcessor);
//   - without images, text_only says how the text is tokenized:
//     "processor" calls processor(text) (Qwen2VLProcessor takes text alone);
//     "tokenizer" calls processor.tokenizer(text), for processors that
//     cannot be called without images (Idefics3Processor reads rows of
//     undefined, LlavaProcessor runs the image processor on null) — the ids
//     they would give, since a prompt without image tokens is only
//     tokenized;
//   - expand_token, when set, is for a model whose AutoProcessor is the bare
//     image processor (LLaVA-OneVision: 4.3.1 has no
//     LlavaOnevisionProcessor): what its caller must do, as run.js's
//     expand_token path — the tokenizer renders the template
//     (tokenizer.apply_chat_template, tokenize: false), the image processor
//     makes pixel_values of all images in one call, and every expand_token
//     of the text becomes one copy per feature model.encode_image returns
//     for an image before the text is tokenized; without images the text
//     is only tokenized;
//   - compose ("llava" or "qwen2vl"), when set, is for several images in
//     one prompt, which 4.3.1's processors cannot take (LlavaProcessor
//     expands only the first <image>; Qwen2VLProcessor fails on two images,
//     model-formats.md §12.5): the caller composes what Python's processor
//     does from transformers.js's own parts — the template through
//     processor.apply_chat_template, processor.image_processor run on each
//     image alone, the k-th image token of the text expanded by the k-th
//     image's count as the processor computes it for one image (LLaVA:
//     floor(H/patch)·floor(W/patch) + num_additional_image_tokens; Qwen:
//     t·h·w / merge_size²), the tokenizer, pixel_values concatenated
//     along the first axis (Qwen: image_grid_thw stacked), then the model's
//     own generate (its feature merge, Qwen's get_rope_index over all
//     grids; the vision encoder is called once per image, as
//     perImageEncoder says); the record then also holds pixel_shape and pixel_sha256 (the
//     concatenated pixel_values), and for Qwen image_grid_thw, position_ids
//     ([3, 1, L] row-major) and rope_delta;
//   - python_rope (Qwen2-VL, text only) replaces 4.3.1's text-only
//     rope_delta, max+1+S, by Python's max+1-S (model-formats.md §5.3).
// For each case it writes OUT_DIR/<name>.json: {prompt_text, input_ids,
// generated_ids}. Network access is disabled: every file must be local.
'use strict';
const fs = require('fs');
const path = require('path');

const offline = require('./offline'); // no network; transformers.js offline

async function main() {
  const [casesPath, outDir] = process.argv.slice(2);
  if (!casesPath || !outDir) {
    console.error('usage: node chat.js CASES.json OUT_DIR');
    process.exit(2);
  }
  const tjs = offline.transformers();
  const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
  fs.mkdirSync(outDir, { recursive: true });
  const load = offline.modelLoader(tjs);
  for (const c of cases) {
    const { processor, model } = await load(c.model);
    const opts = { add_generation_prompt: true };
    if (c.chat_template) opts.chat_template = c.chat_template;
    const images = await Promise.all((c.images || []).map((p) => tjs.RawImage.read(p)));
    let text, inputs;
    let extra = {};
    if (c.compose) {
      text = processor.apply_chat_template(c.messages, opts);
      [inputs, extra] = await compose(tjs, processor, model, text, images, c.compose);
    } else if (c.expand_token) {
      const tokenizer = await tjs.AutoTokenizer.from_pretrained(c.model);
      text = tokenizer.apply_chat_template(c.messages, { ...opts, tokenize: false });
      inputs = await expandImages(tokenizer, processor, model, text, images, c.expand_token);
    } else {
      text = processor.apply_chat_template(c.messages, opts);
      if (images.length > 0) {
        inputs = c.images_first ? await processor(images, text) : await processor(text, images);
      } else if (c.text_only === 'processor') {
        inputs = await processor(text);
      } else if (c.text_only === 'tokenizer') {
        inputs = processor.tokenizer(text);
      } else {
        throw new Error(`${c.name}: no images and no text_only mode`);
      }
    }
    const textRope = model._get_text_only_rope_index;
    if (c.python_rope) {
      model._get_text_only_rope_index = function (ids, mask) {
        const [pos, delta] = textRope.call(this, ids, mask);
        const S = BigInt(ids.dims[1]);
        return [pos, new tjs.Tensor('int64', delta.data.map((d) => d - 2n * S), delta.dims)];
      };
    }
    const encodeImage = model.encode_image;
    if (c.compose === 'qwen2vl') model.encode_image = perImageEncoder(tjs, encodeImage);
    let out;
    try {
      out = await model.generate({ ...inputs, max_new_tokens: c.max_new_tokens, do_sample: false });
    } finally {
      model._get_text_only_rope_index = textRope;
      model.encode_image = encodeImage;
    }
    const n = inputs.input_ids.dims[1];
    const rec = {
      prompt_text: text,
      input_ids: Array.from(inputs.input_ids.data, Number),
      generated_ids: Array.from(out.data, Number).slice(n),
      ...extra,
    };
    fs.writeFileSync(path.join(outDir, `${c.name}.json`), JSON.stringify(rec) + '\n');
  }
}

// expandImages is the expand_token path: pixel_values of all images from
// the bare image processor, every token of text repeated once per feature
// the vision encoder gives an image, then the tokenizer (text only without
// images).
async function expandImages(tokenizer, processor, model, text, images, token) {
  if (images.length === 0) return tokenizer(text);
  const vision = await processor(images);
  const feats = await model.encode_image({ pixel_values: vision.pixel_values });
  const per = feats.dims.length === 3 ? feats.dims[1] : feats.dims[0] / images.length;
  return { ...tokenizer(text.replaceAll(token, token.repeat(per))), ...vision };
}

// compose is the compose path: each image through the bare image
// processor, the k-th image token expanded for the k-th image as the
// family's processor expands one image's token, the tokenizer, the pixel
// values concatenated (Qwen: the grids stacked). It returns the model
// inputs and the record's extra fields.
async function compose(tjs, processor, model, text, images, family) {
  const crypto = require('crypto');
  if (images.length === 0) throw new Error('compose: no images');
  const token = family === 'llava' ? processor.config.image_token : processor.constructor.image_token;
  const parts = [];
  const counts = [];
  for (const img of images) {
    const p = await processor.image_processor(img);
    parts.push(p);
    if (family === 'llava') {
      const [h, w] = p.pixel_values.dims.slice(-2);
      const { patch_size, num_additional_image_tokens } = processor.config;
      counts.push(Math.floor(h / patch_size) * Math.floor(w / patch_size) + num_additional_image_tokens);
    } else if (family === 'qwen2vl') {
      const g = p.image_grid_thw.tolist()[0].map(Number);
      counts.push(Math.floor((g[0] * g[1] * g[2]) / processor.image_processor.config.merge_size ** 2));
    } else {
      throw new Error(`compose: unknown family ${family}`);
    }
  }
  const pieces = text.split(token);
  if (pieces.length - 1 !== images.length) {
    throw new Error(`compose: ${pieces.length - 1} ${token} in the text for ${images.length} images`);
  }
  let expanded = pieces[0];
  for (let i = 0; i < counts.length; ++i) expanded += token.repeat(counts[i]) + pieces[i + 1];
  const inputs = { ...processor.tokenizer(expanded) };
  inputs.pixel_values = tjs.cat(parts.map((p) => p.pixel_values), 0);
  const pv = inputs.pixel_values;
  const extra = {
    pixel_shape: pv.dims,
    pixel_sha256: crypto.createHash('sha256').update(Buffer.from(pv.data.buffer, pv.data.byteOffset, pv.data.byteLength)).digest('hex'),
    features_per_image: counts,
  };
  if (family === 'qwen2vl') {
    inputs.image_grid_thw = tjs.cat(parts.map((p) => p.image_grid_thw), 0);
    const [pos, delta] = model.get_rope_index(inputs.input_ids, inputs.image_grid_thw, null, inputs.attention_mask);
    extra.image_grid_thw = inputs.image_grid_thw.tolist().map((r) => r.map(Number));
    extra.position_ids = Array.from(pos.data, Number);
    extra.rope_delta = Array.from(delta.data, Number);
  }
  return [inputs, extra];
}

// perImageEncoder wraps Qwen2-VL's encode_image so that each image of a
// several-image call (pixel_values rows split by image_grid_thw's t·h·w)
// goes through the vision encoder alone, the features concatenated in
// order. Python's vision tower attends only within each image (cu_seqlens
// from grid_thw), so this is its result; the project's twin vision graphs
// read only grid_thw[0] (scripts/twins/qwen2vl.py, written for one image
// per call) and, given two grids, mix the images (features differ by up
// to 2.7 on the sq56 + wide112x56 pair).
function perImageEncoder(tjs, encode) {
  return async function ({ pixel_values, image_grid_thw }) {
    const grids = image_grid_thw.tolist().map((r) => r.map(Number));
    if (grids.length < 2) return encode.call(this, { pixel_values, image_grid_thw });
    const feats = [];
    let row = 0;
    for (let i = 0; i < grids.length; ++i) {
      const n = grids[i][0] * grids[i][1] * grids[i][2];
      feats.push(await encode.call(this, {
        pixel_values: pixel_values.slice([row, row + n], null),
        image_grid_thw: image_grid_thw.slice([i, i + 1], null),
      }));
      row += n;
    }
    return tjs.cat(feats, 0);
  };
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
