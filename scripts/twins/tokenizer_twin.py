"""Tiny byte-level BPE tokenizers for the twin models.

The vocabulary is a few hundred tokens: the model's special tokens, the 256
byte symbols of GPT-2's byte-to-unicode map, and merges learned from a small
fixed corpus, so prompts tokenize to realistic multi-byte pieces.
"""
import collections
import re


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


CORPUS = """User: Can you describe this image? Assistant: The image shows a red circle and a blue square.
What is in the picture? Describe the image in one sentence. A photo of the object on the table.
What does the image describe? Locate the objects in the image. There is a green triangle at the top left.
the a of and in on with to is are this that there picture photo shows small large left right top bottom
"""


def learn_merges(n_merges, b2u):
    words = collections.Counter()
    for w in re.findall(r" ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s+", CORPUS):
        words[tuple(b2u[b] for b in w.encode("utf-8"))] += 1
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), c = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if c < 2:
            break
        merges.append((a, b))
        nw = collections.Counter()
        for w, cnt in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nw[tuple(out)] += cnt
        words = nw
    return merges


def added(id_, content, special=True):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": special}


def build(head_specials, tail_specials, n_merges, pre_tokenizer, post_processor, decoder):
    """Returns (tokenizer.json dict, {token: id}). head_specials get the first
    ids, then the bytes and merges, then tail_specials."""
    b2u = bytes_to_unicode()
    vocab = {}
    for t in head_specials:
        vocab[t] = len(vocab)
    for b in range(256):
        vocab[b2u[b]] = len(vocab)
    merges = learn_merges(n_merges, b2u)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    for t in tail_specials:
        vocab[t] = len(vocab)
    specials = list(head_specials) + list(tail_specials)
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(vocab[t], t) for t in specials],
        "normalizer": None,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": decoder,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab,
            "merges": [f"{a} {b}" for a, b in merges],
        },
    }
    return tok, vocab
