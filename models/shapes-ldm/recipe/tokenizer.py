"""CLIP byte-level BPE tokenizer (faithful to openai/CLIP simple_tokenizer.py and
HF CLIPTokenizer), plus a tiny BPE learner that builds merges from our prompts.

Vocabulary layout (same as CLIP): the 256 byte-unicode chars, then the same 256
with "</w>", then one entry per merge, then <|startoftext|>, <|endoftext|>.
Encoding: [BOS] + bpe tokens (truncated to 75) + [EOS], padded with the pad id
(= EOS id, as in SD 1.5's tokenizer) to 77.

Pre-tokenisation: CLIP uses the `regex` module pattern
  <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
Python's `re` lacks \p{..}; we use [^\W\d_]+ for \p{L}+ and \d for \p{N}. These
agree on ASCII and on ordinary accented letters; they differ only on exotic
characters (e.g. letter-like marks, non-decimal numerals) which never occur in
our prompts.  The TypeScript port should use the original \p{L}/\p{N} pattern.
Text cleaning: CLIP runs ftfy + html.unescape (no-ops for our prompts), then
collapses whitespace, strips, and lowercases; we do the latter three.
"""
import json
import os
import re
from collections import Counter

MAX_LEN = 77
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
# Note on "_": \p{L}/\p{N} exclude "_", so CLIP puts it in [^\s\p{L}\p{N}]+ together
# with neighbouring punctuation.  To stay exact we use the class below instead.
PAT = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+""",
                 re.IGNORECASE)


def bytes_to_unicode():
    """CLIP/GPT-2 reversible byte -> printable unicode char table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENCODER = bytes_to_unicode()


def clean(text):
    return re.sub(r"\s+", " ", text).strip().lower()


def pretokenize(text):
    """Cleaned text -> list of byte-unicode-encoded pre-tokens."""
    return ["".join(BYTE_ENCODER[b] for b in tok.encode("utf-8")) for tok in PAT.findall(clean(text))]


def get_pairs(word):
    return set(zip(word[:-1], word[1:]))


class CLIPTokenizer:
    def __init__(self, merges):
        """merges: list of (a, b) string pairs in rank order."""
        self.merges = [tuple(m) for m in merges]
        vocab = list(BYTE_ENCODER.values())
        vocab = vocab + [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in self.merges]
        vocab += [BOS, EOS]
        self.encoder = {v: i for i, v in enumerate(vocab)}
        assert len(self.encoder) == len(vocab), "duplicate vocab entries"
        self.bpe_ranks = {m: i for i, m in enumerate(self.merges)}
        self.bos_id, self.eos_id = self.encoder[BOS], self.encoder[EOS]
        self.pad_id = self.eos_id
        self.cache = {BOS: BOS, EOS: EOS}

    @property
    def vocab_size(self):
        return len(self.encoder)

    def bpe(self, token):
        """Exactly CLIP's SimpleTokenizer.bpe."""
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = get_pairs(word)
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        out = " ".join(word)
        self.cache[token] = out
        return out

    def tokenize(self, text):
        return [self.encoder[t] for tok in pretokenize(text) for t in self.bpe(tok).split(" ")]

    def __call__(self, text):
        """77 ids: BOS + tokens[:75] + EOS + PAD..."""
        ids = [self.bos_id] + self.tokenize(text)[: MAX_LEN - 2] + [self.eos_id]
        return ids + [self.pad_id] * (MAX_LEN - len(ids))

    # ---- files in the HF CLIPTokenizer layout -----------------------------
    def save(self, folder):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(self.encoder, f, ensure_ascii=False)
        with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            for a, b in self.merges:
                f.write(f"{a} {b}\n")
        special = {
            "bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS,
        }
        with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
            json.dump(special, f, indent=2)
        cfg = dict(special)
        cfg.update({
            "tokenizer_class": "CLIPTokenizer",
            "model_max_length": MAX_LEN,
            "do_lower_case": True,
            "errors": "replace",
            "add_prefix_space": False,
            "clean_up_tokenization_spaces": True,
        })
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump(cfg, f, indent=2)

    @classmethod
    def load(cls, folder):
        with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        assert lines[0].startswith("#version")
        merges = [tuple(l.split(" ")) for l in lines[1:] if l]
        tok = cls(merges)
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            assert json.load(f) == tok.encoder
        return tok


def learn_merges(corpus):
    """Minimal BPE learner: repeatedly merge the most frequent adjacent pair
    (ties broken lexicographically, for determinism) until every word of the
    corpus is a single symbol."""
    words = Counter(t for text in corpus for t in pretokenize(text))
    segs = {w: tuple(w[:-1]) + (w[-1] + "</w>",) for w in words}
    merges = []
    while True:
        counts = Counter()
        for w, seg in segs.items():
            for p in zip(seg[:-1], seg[1:]):
                counts[p] += words[w]
        if not counts:
            return merges
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        a, b = best
        for w, seg in segs.items():
            out, i = [], 0
            while i < len(seg):
                if i < len(seg) - 1 and seg[i] == a and seg[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(seg[i])
                    i += 1
            segs[w] = tuple(out)


def build_tokenizer():
    """Tokenizer learned from every prompt our templates can produce (train and
    held-out wordings: the vocabulary is not a learned weight, but note that
    held-out templates only use words that also occur in training templates)."""
    import dataset as D
    corpus = [D.prompt(t, c, s, b) for t in D.TRAIN_TEMPLATES + D.HELDOUT_TEMPLATES for (c, s, b) in D.ALL_COMBOS]
    tok = CLIPTokenizer(learn_merges(corpus))
    for text in corpus:  # every word is one token
        assert len(tok.tokenize(text)) == len(pretokenize(text)), text
    return tok


FIXTURE_PROMPTS = [
    "", "a red circle on a blue background", "red circle, blue background",
    "a blue backdrop with a red circle", "a picture of a red circle over blue",
    "A RED Circle On A Blue Background", "   a  green\tsquare \n on   white   ",
    "yellow star!!!", "purple cross, gray background.", "the triangle is cyan and the background is black",
    "a zebra on a blue background", "zebra", "hello world", "circles and squares",
    "red-circle", "it's a red circle", "they're blue squares, aren't they?", "we'll see: 3 stars & 12 crosses",
    "2024", "a", "a,b.c", "<|startoftext|>red circle<|endoftext|>", "café au lait", "snake_case_word",
    "backgrounds backdrop", "an image of a white star on red", "a drawing of a black square, yellow backdrop",
    "reddish bluish greenery", "!!!???",
    # 100 words: truncates to BOS + 75 tokens + EOS
    " ".join(["a", "red", "circle", "on", "blue", "background", "with", "a", "star", "cross"] * 10),
]


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    tok = build_tokenizer()
    print("vocab", tok.vocab_size, "merges", len(tok.merges), "bos/eos/pad", tok.bos_id, tok.eos_id, tok.pad_id)
    fx = [{"prompt": p, "input_ids": tok(p)} for p in FIXTURE_PROMPTS]
    with open(os.path.join(here, "tokenizer_fixtures.json"), "w") as f:
        json.dump({"bos_id": tok.bos_id, "eos_id": tok.eos_id, "pad_id": tok.pad_id,
                   "model_max_length": MAX_LEN, "fixtures": fx}, f, indent=None, ensure_ascii=False)
        f.write("\n")
    for p in FIXTURE_PROMPTS[:12]:
        print(repr(p), tok(p)[:14])
