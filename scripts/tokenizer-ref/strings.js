// strings.js builds the shared test inputs: hand-picked strings covering the
// tricky cases, a ~1,000-character chat prompt, and seeded random strings.
'use strict';
const path = require('path');
const { mulberry32, readJSON } = require('./common');

// Code points assigned in Unicode 15.0, the version of Go 1.26's tables
// (written by the Go test TestAssigned15 -update). Random code points are
// drawn from these and from code points still unassigned in Node's Unicode
// version; characters added after 15.0 are left out because the Rust crate's
// regex engines (Unicode 16) and standard library (17) classify them
// differently from Go, a known gap documented in the tokenizer package.
const ASSIGNED15 = readJSON(path.join(__dirname, 'assigned-15.0.json'));
function assigned15(c) {
  let lo = 0;
  let hi = ASSIGNED15.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (c < ASSIGNED15[mid][0]) hi = mid - 1;
    else if (c > ASSIGNED15[mid][1]) lo = mid + 1;
    else return true;
  }
  return false;
}

const CHAT_PROMPT = '<|im_start|>system\nYou are a helpful assistant that describes images accurately and concisely.<|im_end|>\n' +
  '<|im_start|>user\n<|vision_start|><|image_pad|><|image_pad|><|image_pad|><|image_pad|><|vision_end|>' +
  'Please describe this photo in detail. What objects do you see, what colours are they, and where is the light coming from? ' +
  "Also, if there's any text in the image (signs, labels, numbers like 42 or 3.14), transcribe it exactly. " +
  "Don't guess; if you're unsure, say so. The picture was taken on 2024-05-17 at 18:30 near the café in Zürich — " +
  'it shows a red bicycle leaning against a wall, two people talking, and a dog 🐕 sleeping in the sun.\n\n' +
  'Answer in three short paragraphs:\n1. Scene overview\n2. Details\n3. Anything unusual\n<|im_end|>\n' +
  '<|im_start|>assistant\nThe image shows a quiet street scene in the late afternoon. A red bicycle leans against a ' +
  'weathered stone wall on the left, its front wheel turned slightly toward the camera. Two people stand near a doorway, chatting.<|im_end|>\n<|im_start|>assistant\n';

const CURATED = [
  '', ' ', '  ', '   leading', 'trailing   ', 'a  b   c    d', '\t', '\ttab\tseparated\t', '\n', '\n\n', '\n\n\n',
  'line1\nline2', 'line1\r\nline2\r\n', '\r', '\r\n\r\n', ' \n \n ', 'Hello world', 'Hello, world!', 'HELLO WORLD',
  'hello   world', '1', '12', '123', '1234', '12345678901234567890', '3.14159', '1,000,000', '$19.99',
  '2024-01-15T10:30:00Z', 'v1.2.3', '0x1F', '\u0661\u0662\u0663 \u0664\u0665\u0666', '\u0967\u0968\u0969\u096a',
  '\u2460\u2461\u2462', '\u00bd \u00bc', "don't", "I'm", "you're", "we've", "they'll", "she'd", "it's", "DON'T",
  "I'M", "It'S", "'s", "'\u017f", "' s", 'e\u0301', '\u00e9', 'caf\u00e9 cafe\u0301', '\u212b \u00c5', '\ufb01 \ufb00',
  '\u216b', '\u338f', '\uff46\uff55\uff4c\uff4c \uff57\uff49\uff44\uff54\uff48', '中文', '你好，世界！', '日本語のテキスト',
  'カタカナ', '한국어 텍스트', 'Привет, мир!', 'مرحبا بالعالم', 'नमस्ते दुनिया', 'สวัสดีครับ', 'Γειά σου Κόσμε', 'עברית',
  '\u{1F600}', '\u{1F468}\u200d\u{1F469}\u200d\u{1F467}\u200d\u{1F466}', '\u{1F3F3}\ufe0f\u200d\u{1F308}', '\u{1F44D}\u{1F3FD}',
  '\u{1F1EB}\u{1F1F7}\u{1F1EF}\u{1F1F5}', '\u2764\ufe0f', 'a\u{1F600}b', '\u200b', '\ufeff', '\ufeffBOM at start',
  'non\u00a0breaking', 'thin\u2009space', 'ideographic\u3000space', 'zero\u200bwidth', 'soft\u00adhyphen', '\u0000',
  '\u0001\u0002\u001f', '\u007f', 'bell\u0007', '\u0085nel', '\u2028\u2029', 'def f(x):\n    return x * 2\n',
  'for (int i = 0; i < n; ++i) { sum += a[i]; }', '{"key": [1, 2, 3]}', '<div class="x">text</div>',
  'https://example.com/path?query=1&b=2#frag', 'user@example.com', 'C:\\Users\\name\\file.txt',
  "SELECT * FROM t WHERE a = 'b';", '\u2581', '\u2581\u2581', '\u2581hello', '\u0120', '\u0120hello', '\u010a', '\u010a\u0120',
  '<0x0A>', '<0xFF>', '##ing', '</w>', '<s>', '</s>', '<unk>', '<pad>', '<s> hello </s>', '<|im_start|>',
  '<|im_start|>user\nDescribe this image.<|im_end|>\n<|im_start|>assistant\n', '<|endoftext|>', 'world <|endoftext|> end',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
  '<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n',
  '<bos><start_of_turn>user\n<start_of_image><image_soft_token><end_of_image>What?<end_of_turn>',
  'USER: <image>\nWhat is shown? ASSISTANT:', '<s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nhi [/INST]',
  '<|im_start|>User:<fake_token_around_image><global-img><image><image><fake_token_around_image>Can you describe this image?<end_of_utterance>\nAssistant:',
  '<|vision_start|><|image_pad|><|image_pad|><|vision_end|>Describe.', '<\uff5cbegin\u2581of\u2581sentence\uff5c>Hello<\uff5cend\u2581of\u2581sentence\uff5c>',
  '<image><image>', '<image>\n', ' <image> ', 'text<image>text', '<ima', '<|im_start', '<mask>', 'a <mask> b', 'a\u3000<mask>b',
  '<mask>x', '[X] y', '[X]\u2003\u2003y', 'hello Hello HELLO helloworld', 'ahello hello_ hello, (hello)', '<sep>', '<eos> <bos>',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '!!!!!!!!!!', '..........', '----------', '          ', '\n\n\n\n\n\n',
  'abcabcabcabcabcabc', '\u0130stanbul', '\u03a3\u0391\u03a3', '\u00df \u1e9e', 'the-the--the', 'a photo of a red cat on the sofa .',
  'Describe this image , please !', 'xhello x', '  <image>x hi', 'x<s>x', ' \t hello ', "What's in the photo? It's a dog.",
  'The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs! 0123456789',
  CHAT_PROMPT,
];

const WORDS = ['the', 'The', 'THE', 'a', 'image', 'photo', 'describe', 'Describe', 'cat', 'dog', 'hello', 'world', 'tokenizer',
  'merge', 'café', 'naïve', 'über', 'Zürich', 'don', 'isn', 'x', 'ab', 'abc', 'internationalization', 'github', 'JSON', 'iPhone',
  'résumé', 'Ελλάδα', 'Москва', '東京', 'القاهرة', 'मुंबई', 'กรุงเทพ', 'ñandú', 'straße', 'İzmir', 'ǅ', 'ﬁnal', 'red', 'blue',
  'sofa', 'on', 'in', 'is', 'what', 'this', 'an', 'of'];
const SPACES = [' ', ' ', ' ', ' ', '  ', '   ', '\t', '\n', '\r\n', '\n\n', '\u3000', '\u2009', '\u00a0', '\u200b', '\u2028', ' \n', '\r'];
const PUNCT = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'LL"];
const SPECIALS = ['<s>', '</s>', '<unk>', '<pad>', '<image>', '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<|begin_of_text|>',
  '<|eot_id|>', '<start_of_turn>', '<end_of_turn>', '<bos>', '<eos>', '<|image_pad|>', '<|vision_start|>', '<mask>', '[X]', '<sep>',
  '<fake_token_around_image>', '<global-img>', '<end_of_utterance>', '[CLS]', '[SEP]', '<image_soft_token>',
  '<\uff5cbegin\u2581of\u2581sentence\uff5c>', '<|endofprompt|>', '\u2581', '\u0120', '<0x41>'];
const RANGES = [[0x4e00, 0x9fff], [0x3040, 0x309f], [0x30a0, 0x30ff], [0xac00, 0xd7a3], [0x0400, 0x04ff], [0x0600, 0x06ff],
  [0x0900, 0x097f], [0x0e00, 0x0e7f], [0x0370, 0x03ff], [0x1f300, 0x1f64f], [0x1f900, 0x1f9ff], [0x00a0, 0x00ff], [0x0100, 0x024f],
  [0xff00, 0xffef], [0x2000, 0x206f], [0x2460, 0x24ff]];

// randomStrings returns n strings made of random components.
function randomStrings(n, seed) {
  const rnd = mulberry32(seed);
  const int = (k) => Math.floor(rnd() * k);
  const pick = (a) => a[int(a.length)];
  const cp = (lo, hi) => String.fromCodePoint(lo + int(hi - lo + 1));
  const rare = () => {
    for (;;) {
      const c = 0x80 + int(0x10ffff - 0x80);
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const ch = String.fromCodePoint(c);
      if (assigned15(c) || /\p{Cn}/u.test(ch)) return ch;
    }
  };
  const parts = [
    () => pick(WORDS), () => pick(WORDS), () => pick(WORDS), () => pick(SPACES), () => pick(SPACES),
    () => String(int(10 ** (1 + int(7)))), () => PUNCT[int(PUNCT.length)].repeat(1 + int(3)), () => pick(CONTRACTIONS),
    () => pick(SPECIALS), () => { const r = pick(RANGES); let s = ''; for (let i = 1 + int(5); i > 0; i--) s += cp(r[0], r[1]); return s; },
    () => pick(WORDS).slice(0, 1) + cp(0x0300, 0x036f) + (rnd() < 0.3 ? cp(0x0300, 0x036f) : ''),
    () => rare(), () => cp(0x00, 0x1f), () => cp(0x7f, 0x9f),
    () => cp(0x1f466, 0x1f469) + '\u200d' + cp(0x1f466, 0x1f469) + (rnd() < 0.5 ? '\ufe0f' : ''),
    () => cp(0x30, 0x39).repeat(1 + int(6)), () => cp(0x0966, 0x096f) + cp(0x0660, 0x0669),
  ];
  const out = [];
  for (let i = 0; i < n; i++) {
    let s = '';
    for (let k = 1 + int(12); k > 0; k--) s += pick(parts)();
    out.push(s);
  }
  return out;
}

module.exports = { CURATED, CHAT_PROMPT, randomStrings };
