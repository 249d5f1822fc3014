// Package tokenizer reads Hugging Face tokenizer.json files and encodes text
// to token ids and back exactly like the Rust tokenizers crate (version
// 0.23.2, checked by a differential test), in pure Go.
//
// Load reads a model folder (tokenizer.json plus tokenizer_config.json,
// generation_config.json and special_tokens_map.json when present) and
// resolves the special tokens a runner needs by the names those files give;
// LoadFile reads a tokenizer.json alone. Encode, Decode and the streaming
// decoder returned by NewStream are safe for concurrent use of one
// Tokenizer (a Stream itself is not).
//
// Supported tokenizer.json components (anything else is refused at load
// time with an error naming it):
//
//   - models: BPE (merges as "a b" strings or ["a", "b"] pairs,
//     byte_fallback, ignore_merges, fuse_unk, unk_token,
//     continuing_subword_prefix, end_of_word_suffix; dropout must be unset)
//     and WordLevel. Unigram and WordPiece models are refused;
//   - added tokens: special and normal, leftmost-longest matching,
//     single_word, lstrip, rstrip, normalized (matched after normalization)
//     or not (matched on the raw text); ids are assigned the way Rust does,
//     not read from the file;
//   - normalizers: NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents,
//     Prepend, Replace (string or regex), ByteLevel, Sequence;
//   - pre-tokenizers: ByteLevel (GPT-2 regex, add_prefix_space, use_regex),
//     Split (string or regex with look-around, all five behaviours, invert),
//     Metaspace (replacement, prepend_scheme always/first/never, split),
//     Digits, Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer,
//     CharDelimiterSplit, Sequence;
//   - post-processors: TemplateProcessing (single and pair templates; see
//     EncodePair), BertProcessing, RobertaProcessing, ByteLevel, Sequence;
//   - decoders: ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace,
//     WordPiece, BPEDecoder, Sequence. Without a decoder, tokens are joined
//     with single spaces, as in Rust.
//
// Regular expressions (Oniguruma syntax in tokenizer.json) run on
// github.com/dlclark/regexp2, which supports look-ahead; the common split
// patterns have hand-written equivalents that are checked against it.
//
// Known differences from Rust: the crate takes its Unicode data from
// several sources of different ages. Where they are older than Go's Unicode
// 15.0 (normalization and StripAccents: 9.0; punctuation: 8.0) this package
// restricts its tables to match. Characters added to Unicode after 15.0 are
// unknown to Go 1.26's tables but known to Rust's regex engines (16.0) and
// standard library (17.0), so text containing them may be split
// differently. Offsets, truncation and padding are not implemented.
package tokenizer
