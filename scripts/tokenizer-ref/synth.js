// synth.js defines the small synthetic tokenizer.json files committed in
// tokenizer/testdata/tokenizers/: one or two features each, on vocabularies
// cut down from GPT-2 and the llama2 (Mistral) file, on a tiny BPE trained
// here, or on a hand-written WordLevel vocabulary.
'use strict';
const { addedToken } = require('./common');
const { gpt2Base, llama2 } = require('./build');

// gpt2Subset keeps the 256 byte characters and the first n merges.
function gpt2Subset(n) {
  const { vocab, merges } = gpt2Base();
  const out = {};
  let next = 0;
  for (const [tok, id] of Object.entries(vocab)) if (id < 256) out[tok] = next++;
  const keep = merges.slice(0, n);
  for (const m of keep) {
    const [a, b] = m.split(' ');
    if (!(a + b in out)) out[a + b] = next++;
  }
  return { vocab: out, merges: keep };
}

// llamaSubset keeps the specials, byte tokens, single characters below
// U+0800 and the merges (among the first n) whose parts are kept.
function llamaSubset(n) {
  const t = llama2();
  const vocab = {};
  let next = 0;
  for (const [tok, id] of Object.entries(t.model.vocab).sort((x, y) => x[1] - y[1])) {
    const cps = [...tok];
    if (id < 259 || (cps.length === 1 && cps[0].codePointAt(0) < 0x800)) vocab[tok] = next++;
  }
  const merges = [];
  for (const m of t.model.merges.slice(0, n)) {
    const [a, b] = typeof m === 'string' ? m.split(' ') : m;
    if (a in vocab && b in vocab) {
      merges.push([a, b]);
      if (!(a + b in vocab)) vocab[a + b] = next++;
    }
  }
  return { vocab, merges };
}

// trainBPE learns a small BPE with an optional continuing-subword prefix and
// end-of-word suffix, using the same symbol conventions as Rust's BPE.
function trainBPE(corpus, nMerges, prefix, suffix, specials) {
  const counts = new Map();
  for (const w of corpus.toLowerCase().split(/[^a-z]+/)) if (w) counts.set(w, (counts.get(w) || 0) + 1);
  const words = [...counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([w, c]) => {
    const chars = [...w];
    return { c, syms: chars.map((ch, i) => (i > 0 ? prefix : '') + ch + (i === chars.length - 1 ? suffix : '')) };
  });
  const vocab = {};
  let next = 0;
  for (const s of specials) vocab[s] = next++;
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (const ch of letters) {
    for (const v of [ch, prefix + ch, ch + suffix, prefix + ch + suffix]) if (!(v in vocab)) vocab[v] = next++;
  }
  const merges = [];
  for (let k = 0; k < nMerges; k++) {
    const pairs = new Map();
    for (const w of words) for (let i = 0; i + 1 < w.syms.length; i++) {
      const key = w.syms[i] + '\u0000' + w.syms[i + 1];
      pairs.set(key, (pairs.get(key) || 0) + w.c);
    }
    let best = null;
    for (const [key, c] of pairs) if (!best || c > best[1] || (c === best[1] && key < best[0])) best = [key, c];
    if (!best) break;
    const [a, b] = best[0].split('\u0000');
    const merged = a + b.slice(prefix.length);
    merges.push([a, b]);
    if (!(merged in vocab)) vocab[merged] = next++;
    for (const w of words) {
      const out = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) { out.push(merged); i++; } else out.push(w.syms[i]);
      }
      w.syms = out;
    }
  }
  return { vocab, merges };
}

const CORPUS = `The quick brown fox jumps over the lazy dog. A photo of a cat sitting on a
red sofa next to the window, with sunlight coming in. Describe the image in detail:
what objects are there, what colours, where is the light coming from, and what
is happening? The model answers questions about pictures and writes captions for
them. Tokenizers split text into words and words into subword units; merges are
learned from frequent pairs. Hello world, hello there, good morning and good night.`;

const bl = (aps, re) => ({ type: 'ByteLevel', add_prefix_space: aps, trim_offsets: true, use_regex: re });
const tmpl = (pre, post, specials) => ({
  type: 'TemplateProcessing',
  single: [...pre.map((id) => ({ SpecialToken: { id, type_id: 0 } })), { Sequence: { id: 'A', type_id: 0 } }, ...post.map((id) => ({ SpecialToken: { id, type_id: 0 } }))],
  pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
  special_tokens: Object.fromEntries(Object.entries(specials).map(([k, v]) => [k, { id: k, ids: [v], tokens: [k] }])),
});

function file(model, parts) {
  return Object.assign({ version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null }, parts, { model });
}

function bpeModel(v, opts = {}) {
  return Object.assign({ type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false }, opts, { vocab: v.vocab, merges: v.merges });
}

// wordLevelVocab is the project's style of tiny WordLevel vocabulary.
function wordLevelVocab() {
  const words = ['<pad>', '<bos>', '<eos>', '<unk>', '<image>', 'a', 'an', 'the', 'photo', 'of', 'cat', 'dog', 'red', 'blue', 'sofa',
    'on', 'in', 'is', 'what', 'describe', 'image', 'this', '.', ',', '?', '!', 'A', 'The', 'Describe', 'hello', 'world', 'Hello',
    '1', '2', '12', '\u00e9', 'e\u0301', '中文', '😀', "don't", 'caption:', 'answer:'];
  return Object.fromEntries(words.map((w, i) => [w, i]));
}

function definitions() {
  const g = gpt2Subset(2500);
  const l = llamaSubset(6000);
  const eot = g.vocab['<|endoftext|>'] === undefined ? Object.keys(g.vocab).length : g.vocab['<|endoftext|>'];
  const wl = wordLevelVocab();
  const llamaDec = { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] };
  const n = Object.keys(g.vocab).length;
  const ln = Object.keys(l.vocab).length;
  const suffixBPE = trainBPE(CORPUS, 300, '', '</w>', ['<unk>', '<s>', '</s>']);
  const prefixBPE = trainBPE(CORPUS, 300, '##', '', ['[UNK]', '[CLS]', '[SEP]', '[PAD]', '[MASK]']);
  return {
    // The project's own model: WordLevel, WhitespaceSplit, no decoder.
    wordlevel_ws: file({ type: 'WordLevel', vocab: wl, unk_token: '<unk>' }, {
      added_tokens: [addedToken(0, '<pad>', true), addedToken(1, '<bos>', true), addedToken(2, '<eos>', true), addedToken(3, '<unk>', true), addedToken(4, '<image>', true)],
      pre_tokenizer: { type: 'WhitespaceSplit' },
      post_processor: tmpl(['<bos>'], ['<eos>'], { '<bos>': 1, '<eos>': 2 }),
    }),
    wordlevel_punct: file({ type: 'WordLevel', vocab: wl, unk_token: '<unk>' }, {
      added_tokens: [addedToken(3, '<unk>', true), addedToken(4, '<image>', true)],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Strip', strip_left: true, strip_right: true }, { type: 'NFKC' }] },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' }, { type: 'Punctuation', behavior: 'Isolated' }] },
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      post_processor: { type: 'BertProcessing', sep: ['<eos>', 2], cls: ['<bos>', 1] },
    }),
    gpt2_small: file(bpeModel(g), {
      added_tokens: [addedToken(n, '<|endoftext|>', true, { normalized: true })],
      pre_tokenizer: bl(false, true), post_processor: bl(false, true), decoder: bl(false, true),
    }),
    smollm_small: file(bpeModel(g), {
      added_tokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<image>', '<fake_token_around_image>', '<global-img>', '<row_1_col_1>', '<end_of_utterance>'].map((c, i) => addedToken(n + i, c, true)),
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, bl(false, true)] },
      decoder: bl(false, true),
    }),
    bytelevel_prefix: file(bpeModel(g), {
      added_tokens: [addedToken(n, '<mask>', true, { lstrip: true }), addedToken(n + 1, '[X]', false, { rstrip: true, normalized: false }),
        addedToken(n + 2, 'hello', false, { single_word: true }), addedToken(n + 3, '<sep>', true, { normalized: true }), addedToken(n + 4, 'İ', false)],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
      pre_tokenizer: bl(true, true), decoder: bl(true, true),
      post_processor: { type: 'RobertaProcessing', sep: ['<sep>', n + 3], cls: ['<mask>', n], trim_offsets: true, add_prefix_space: true },
    }),
    split_mixed: file(bpeModel(g), {
      added_tokens: [addedToken(eot, '<|endoftext|>', true)],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Strip', strip_left: true, strip_right: true }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }] },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { String: ' ' }, behavior: 'MergedWithNext', invert: false },
        { type: 'Split', pattern: { Regex: '[0-9]' }, behavior: 'Contiguous', invert: false },
        { type: 'Punctuation', behavior: 'MergedWithPrevious' },
        bl(false, false)] },
      post_processor: { type: 'Sequence', processors: [bl(false, false), tmpl(['<|endoftext|>'], ['<|endoftext|>'], { '<|endoftext|>': eot })] },
      decoder: bl(false, false),
    }),
    split_invert: file(bpeModel(g), {
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }, { type: 'Lowercase' }] },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { Regex: "[a-z]+|[0-9]{1,2}" }, behavior: 'Removed', invert: true },
        { type: 'Digits', individual_digits: false },
        bl(false, false)] },
      // Rust's Strip decoder panics when stop > 0 meets an empty string, so
      // stop is only exercised in gemma_like_small, whose tokens are never empty.
      decoder: { type: 'Sequence', decoders: [bl(false, false), { type: 'Strip', content: ' ', start: 2, stop: 0 }] },
    }),
    split_behaviors: file(bpeModel(g), {
      normalizer: { type: 'NFKD' },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { Regex: "\\s+(?!\\S)|'[a-z]+" }, behavior: 'MergedWithPrevious', invert: false },
        { type: 'Split', pattern: { String: 'the' }, behavior: 'Removed', invert: false },
        { type: 'CharDelimiterSplit', delimiter: '-' },
        { type: 'Split', pattern: { Regex: '[aeiou]' }, behavior: 'MergedWithNext', invert: true },
        bl(false, false)] },
      decoder: bl(false, false),
    }),
    bert_pre: file(bpeModel(g), {
      added_tokens: [addedToken(eot, '<|endoftext|>', true)],
      normalizer: { type: 'Lowercase' },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'BertPreTokenizer' }, bl(false, false)] },
      decoder: { type: 'Sequence', decoders: [bl(false, false), { type: 'Replace', pattern: { Regex: '(?i)hello' }, content: 'HI' }] },
    }),
    llama_legacy_small: file(bpeModel(l, { unk_token: '<unk>', fuse_unk: true, byte_fallback: true }), {
      added_tokens: [addedToken(0, '<unk>', true), addedToken(1, '<s>', true), addedToken(2, '</s>', true), addedToken(ln, '<image>', true), addedToken(ln + 1, '<pad>', true)],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
      post_processor: tmpl(['<s>'], [], { '<s>': 1 }),
      decoder: llamaDec,
    }),
    llama_metaspace_first: file(bpeModel(l, { unk_token: '<unk>', fuse_unk: true, byte_fallback: true }), {
      added_tokens: [addedToken(0, '<unk>', true), addedToken(1, '<s>', true), addedToken(2, '</s>', true), addedToken(ln, '<image>', true)],
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
      post_processor: tmpl(['<s>'], [], { '<s>': 1 }),
      decoder: { type: 'Sequence', decoders: [{ type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false }, { type: 'ByteFallback' }, { type: 'Fuse' }] },
    }),
    metaspace_split_unk: file(bpeModel(l, { unk_token: '<unk>', fuse_unk: false, byte_fallback: false }), {
      added_tokens: [addedToken(0, '<unk>', true), addedToken(1, '<s>', true), addedToken(2, '</s>', true)],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Strip', strip_left: true, strip_right: false }, { type: 'NFKC' }] },
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
      post_processor: tmpl(['<s>'], ['</s>'], { '<s>': 1, '</s>': 2 }),
      decoder: { type: 'Metaspace', replacement: '\u2581', add_prefix_space: true },
    }),
    // Leading characters deleted by the normalizer move the piece off
    // offset 0, so prepend_scheme "first" must not prepend.
    metaspace_first_strip: file(bpeModel(l, { unk_token: '<unk>', fuse_unk: true, byte_fallback: true }), {
      added_tokens: [addedToken(0, '<unk>', true), addedToken(1, '<s>', true), addedToken(ln, '<image>', true)],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Strip', strip_left: true, strip_right: true }, { type: 'Replace', pattern: { String: 'x' }, content: '' }] },
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: true },
      decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: true },
    }),
    metaspace_never_fuse: file(bpeModel(l, { unk_token: '<unk>', fuse_unk: true, byte_fallback: false }), {
      added_tokens: [addedToken(0, '<unk>', true), addedToken(1, '<s>', true)],
      normalizer: { type: 'Replace', pattern: { Regex: '[0-9]+' }, content: '#' },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'never', split: true }] },
      decoder: { type: 'Sequence', decoders: [{ type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'never', split: true }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    }),
    gemma_like_small: file(bpeModel(l, { unk_token: '<unk>', fuse_unk: true, byte_fallback: true }), {
      added_tokens: [addedToken(0, '<unk>', true), addedToken(1, '<s>', true), addedToken(2, '</s>', true),
        addedToken(ln, '<start_of_turn>', true), addedToken(ln + 1, '<end_of_turn>', true), addedToken(ln + 2, '\n\n', false, { normalized: false }), addedToken(ln + 3, '  ', false, { normalized: false })],
      normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      pre_tokenizer: { type: 'Split', pattern: { String: ' ' }, behavior: 'MergedWithPrevious', invert: false },
      post_processor: tmpl(['<s>'], [], { '<s>': 1 }),
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'Strip', content: ' ', start: 0, stop: 1 }, { type: 'ByteFallback' }, { type: 'Fuse' }] },
    }),
    bpe_suffix: file(bpeModel(suffixBPE, { unk_token: '<unk>', end_of_word_suffix: '</w>' }), {
      added_tokens: [addedToken(0, '<unk>', true), addedToken(1, '<s>', true), addedToken(2, '</s>', true)],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }, { type: 'Lowercase' }] },
      pre_tokenizer: { type: 'Whitespace' },
      post_processor: tmpl(['<s>'], ['</s>'], { '<s>': 1, '</s>': 2 }),
      decoder: { type: 'BPEDecoder', suffix: '</w>' },
    }),
    bpe_prefix: file(bpeModel(prefixBPE, { unk_token: '[UNK]', continuing_subword_prefix: '##', fuse_unk: true }), {
      added_tokens: ['[UNK]', '[CLS]', '[SEP]', '[PAD]', '[MASK]'].map((c, i) => addedToken(i, c, true)),
      normalizer: { type: 'Lowercase' },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: { type: 'BertProcessing', sep: ['[SEP]', 2], cls: ['[CLS]', 1] },
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    }),
    ignore_merges_small: file(bpeModel(g, { ignore_merges: true }), {
      added_tokens: [addedToken(eot, '<|endoftext|>', true)],
      normalizer: { type: 'NFC' },
      pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" }, behavior: 'Isolated', invert: false },
        bl(false, false)] },
      post_processor: { type: 'Sequence', processors: [bl(true, true), tmpl(['<|endoftext|>'], [], { '<|endoftext|>': eot })] },
      decoder: bl(true, true),
    }),
  };
}

module.exports = { definitions };
