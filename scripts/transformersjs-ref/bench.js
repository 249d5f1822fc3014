// bench.js times transformers.js 4.3.1 (onnxruntime-node, CPU) on a
// SmolVLM-layout model folder and one image, per stage, the way vlmrun
// bench reports them, for same-run comparisons (scripts/compare-tjs.sh).
//
// Usage: node bench.js MODEL_DIR IMAGE [--threads N] [--warmup W] [--runs R]
//                      [--max-new-tokens T] [--prompt TEXT] [--dtype D]
//
// --dtype is transformers.js's dtype option: one for every file (fp32,
// fp16, q8, q4, ...) or per file as vlmrun writes it
// ("vision_encoder=q8,decoder_model_merged=q4"); default fp32.
//
// Stages (milliseconds), from wrapping each ORT session's run:
//   image_decode  RawImage.read (sharp)
//   preprocess    processor(text, [image]) (resize, split, normalize, tokenize)
//   encode        the vision_encoder run(s) inside generate
//   prefill       generate's start to the end of the first decoder run, less
//                 encode (embedding, merging, the decoder's prefill) = TTFT
//                 counted like vlmrun's
//   decode        the remaining tokens; decode_tokens_per_s excludes the first
//   total         image_decode + preprocess + generate
// Prints one JSON object: per-run records, medians, peak RSS (maxRSS of
// the process), RSS after the first and the last measured run.
'use strict';

const offline = require('./offline'); // no network; transformers.js offline

function parseArgs(argv) {
  const a = { threads: 0, warmup: 1, runs: 3, maxNew: 32, prompt: 'Can you describe this image?', dtype: 'fp32', pos: [] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = () => argv[++i];
    if (k === '--threads') a.threads = Number(next());
    else if (k === '--warmup') a.warmup = Number(next());
    else if (k === '--runs') a.runs = Number(next());
    else if (k === '--max-new-tokens') a.maxNew = Number(next());
    else if (k === '--prompt') a.prompt = next();
    else if (k === '--dtype') a.dtype = parseDType(next());
    else a.pos.push(k);
  }
  if (a.pos.length !== 2) {
    console.error('usage: node bench.js MODEL_DIR IMAGE [--threads N] [--warmup W] [--runs R] [--max-new-tokens T] [--prompt TEXT] [--dtype D]');
    process.exit(2);
  }
  return a;
}

function parseDType(s) {
  if (!s.includes('=')) return s;
  const d = {};
  for (const part of s.split(',')) {
    const [k, v] = part.split('=');
    d[k.trim()] = v.trim();
  }
  return d;
}

function median(xs) {
  const s = [...xs].sort((x, y) => x - y);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const [modelDir, imagePath] = a.pos.map((p) => require('path').resolve(p));
  const tjs = offline.transformers();
  const sessionOptions = {};
  if (a.threads > 0) sessionOptions.intraOpNumThreads = a.threads;
  const processor = await tjs.AutoProcessor.from_pretrained(modelDir);
  const model = await tjs.AutoModelForImageTextToText.from_pretrained(modelDir, {
    dtype: a.dtype, device: 'cpu', session_options: sessionOptions,
  });
  // Time every session run.
  let calls = [];
  for (const [name, s] of Object.entries(model.sessions)) {
    const run = s.run.bind(s);
    s.run = async (...args) => {
      const t0 = performance.now();
      const out = await run(...args);
      calls.push({ name, start: t0, end: performance.now() });
      return out;
    };
  }
  const messages = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: a.prompt }] }];
  const text = processor.apply_chat_template(messages, { add_generation_prompt: true });
  const records = [];
  let rssFirst = 0;
  let lastIds = [];
  for (let r = 0; r < a.warmup + a.runs; r++) {
    calls = [];
    const t0 = performance.now();
    const image = await tjs.RawImage.read(imagePath);
    const t1 = performance.now();
    const inputs = await processor(text, [image]);
    const t2 = performance.now();
    const out = await model.generate({ ...inputs, max_new_tokens: a.maxNew, do_sample: false });
    const t3 = performance.now();
    const promptLen = inputs.input_ids.dims[1];
    const generated = out.dims[1] - promptLen;
    lastIds = Array.from(out.data, Number).slice(promptLen);
    const enc = calls.filter((c) => c.name === 'vision_encoder');
    const dec = calls.filter((c) => c.name === 'model' || c.name === 'decoder_model_merged');
    const encodeMs = enc.reduce((s, c) => s + c.end - c.start, 0);
    const firstDecEnd = dec.length ? dec[0].end : t3;
    const rec = {
      image_decode_ms: t1 - t0,
      preprocess_ms: t2 - t1,
      encode_ms: encodeMs,
      prefill_ms: firstDecEnd - t2 - encodeMs,
      prefill_decoder_run_ms: dec.length ? dec[0].end - dec[0].start : 0,
      decode_ms: t3 - firstDecEnd,
      total_ms: t3 - t0,
      prompt_tokens: promptLen,
      generated_tokens: generated,
      vision_inputs: inputs.pixel_values.dims[1],
      ort_ms: calls.reduce((s, c) => s + c.end - c.start, 0),
    };
    rec.decode_tokens_per_s = generated > 1 ? (generated - 1) / (rec.decode_ms / 1000) : 0;
    if (r >= a.warmup) {
      records.push(rec);
      if (records.length === 1) rssFirst = process.memoryUsage().rss;
    }
  }
  const med = {};
  for (const k of Object.keys(records[0])) med[k] = median(records.map((x) => x[k]));
  const report = {
    runner: 'transformers.js 4.3.1',
    onnxruntime_node: require('onnxruntime-node/package.json').version,
    intra_op_threads: a.threads, dtype: a.dtype,
    model: modelDir, image: imagePath, warmup: a.warmup, runs: a.runs, max_new_tokens: a.maxNew,
    median: med, records, generated_ids: lastIds,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    rss_after_first_bytes: rssFirst,
    rss_after_last_bytes: process.memoryUsage().rss,
  };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
