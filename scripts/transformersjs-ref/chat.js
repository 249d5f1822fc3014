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
//   - python_rope (Qwen2-VL, text only) replaces 4.3.1's text-only
//     rope_delta, max+1+S, by Python's max+1-S (model-formats.md §5.3).
// For each case it writes OUT_DIR/<name>.json: {prompt_text, input_ids,
// generated_ids}. Network access is disabled: every file must be local.
'use strict';
const fs = require('fs');
const path = require('path');

globalThis.fetch = async (url) => {
  throw new Error(`network access attempted: ${url}`);
};

async function main() {
  const [casesPath, outDir] = process.argv.slice(2);
  if (!casesPath || !outDir) {
    console.error('usage: node chat.js CASES.json OUT_DIR');
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
    const opts = { add_generation_prompt: true };
    if (c.chat_template) opts.chat_template = c.chat_template;
    const images = await Promise.all((c.images || []).map((p) => tjs.RawImage.read(p)));
    let text, inputs;
    if (c.expand_token) {
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
    let out;
    try {
      out = await model.generate({ ...inputs, max_new_tokens: c.max_new_tokens, do_sample: false });
    } finally {
      model._get_text_only_rope_index = textRope;
    }
    const n = inputs.input_ids.dims[1];
    const rec = {
      prompt_text: text,
      input_ids: Array.from(inputs.input_ids.data, Number),
      generated_ids: Array.from(out.data, Number).slice(n),
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

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
