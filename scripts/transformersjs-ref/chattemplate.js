// chattemplate.js renders chat templates with transformers.js 4.3.1
// (tokenizer.apply_chat_template with tokenize: false, which uses
// @huggingface/jinja), the reference for vlmrun's chattemplate package.
//
// Usage: node chattemplate.js CASES.json OUT.json
// CASES.json: {tokenizer_json: PATH (any tokenizer.json: only the template
// is rendered), templates: [{id, config}] (config: a tokenizer_config.json
// object with chat_template and the special tokens), conversations:
// [{name, messages, tools (optional)}]}. OUT.json maps "ID|NAME|gen" and "ID|NAME|nogen"
// (add_generation_prompt true / false) to {text} or {error}.
//
// strftime_now sees a fixed clock: 2026-01-15 09:05 UTC.
'use strict';
process.env.TZ = 'UTC';
const fs = require('fs');

const FIXED = Date.UTC(2026, 0, 15, 9, 5, 0);
const RealDate = Date;
globalThis.Date = class extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(FIXED); else super(...args);
  }
  static now() { return FIXED; }
};
require('./offline'); // no network

function main() {
  const [casesPath, outPath] = process.argv.slice(2);
  if (!casesPath || !outPath) {
    console.error('usage: node chattemplate.js CASES.json OUT.json');
    process.exit(2);
  }
  const { PreTrainedTokenizer } = require('@huggingface/transformers');
  const spec = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
  const tokJSON = JSON.parse(fs.readFileSync(spec.tokenizer_json, 'utf8'));
  const out = {};
  for (const t of spec.templates) {
    let tok = null;
    let loadError = null;
    try {
      tok = new PreTrainedTokenizer(tokJSON, t.config);
    } catch (e) {
      loadError = String((e && e.message) || e);
    }
    for (const c of spec.conversations) {
      for (const gen of [false, true]) {
        const key = `${t.id}|${c.name}|${gen ? 'gen' : 'nogen'}`;
        try {
          if (loadError !== null) throw new Error(loadError);
          // A fresh copy per call: nothing a template does can leak into the next case.
          const messages = JSON.parse(JSON.stringify(c.messages));
          const options = { tokenize: false, add_generation_prompt: gen };
          if (c.tools !== undefined) options.tools = JSON.parse(JSON.stringify(c.tools));
          out[key] = { text: tok.apply_chat_template(messages, options) };
        } catch (e) {
          out[key] = { error: String((e && e.message) || e) };
        }
      }
    }
  }
  fs.writeFileSync(outPath, JSON.stringify(out) + '\n');
}

main();
