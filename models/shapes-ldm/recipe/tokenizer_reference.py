"""The reference CLIP text cleanup (OpenAI CLIP's simple_tokenizer), run with the
real ftfy, and the fixtures the worker's TypeScript port is held to.

OpenAI CLIP encodes a prompt as
    basic_clean:      ftfy.fix_text(text), then html.unescape twice, then strip()
    whitespace_clean: re.sub(r"\\s+", " ", text).strip()
    .lower(), then CLIP's pre-tokenising regex (the `regex` module, IGNORECASE),
    byte-level BPE.
transformers' CLIPTokenizer skips ftfy and html.unescape when ftfy is not
installed and cleans with BERT's BasicTokenizer instead; the two disagree on
pasted web text (entities, curly quotes, ligatures, fullwidth forms, mojibake,
CJK runs), which is what the cases below exercise.

Needs ftfy 6.3.1 exactly (fix_text's defaults and heuristics change between
releases; Debian bookworm has no python3-ftfy, so it comes from PyPI) and the
`regex` module:
    apt-get install -y python3-regex python3-wcwidth python3-pip
    /usr/bin/python3 -m pip install --break-system-packages --no-deps ftfy==6.3.1
    /usr/bin/python3 models/shapes-ldm/recipe/tokenizer_reference.py

Writes
    recipe/tokenizer_reference_fixtures.json   every case's cleaned text and its 77 ids with
                                               the bundled vocabulary, plus the Python-side
                                               tables the port relies on (whitespace, lower(),
                                               pre-token classes, code pages, html.unescape)
    worker/src/pipeline/text-cleanup/html-entities.ts
                                               Python's html.entities.html5 as a TypeScript table
"""
import html
import html.entities
import json
import os
import re
import sys
import unicodedata

import ftfy
import regex

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer import BYTE_ENCODER, CLIPTokenizer, MAX_LEN  # noqa: E402

FTFY_VERSION = "6.3.1"
if ftfy.__version__ != FTFY_VERSION:
    sys.exit(f"ftfy {ftfy.__version__} found; the fixtures are for ftfy {FTFY_VERSION} (see this file's docstring)")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MODEL = os.path.abspath(os.path.join(HERE, ".."))

# CLIP's pattern as OpenAI's simple_tokenizer compiles it.
CLIP_PAT = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)


def reference_clean(text):
    """OpenAI CLIP: whitespace_clean(basic_clean(text)).lower()."""
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text))
    text = text.strip()
    text = re.sub(r"\s+", " ", text)
    return text.strip().lower()


def reference_ids(tok, cleaned):
    """BPE ids of the cleaned text with the bundled vocabulary, laid out as the
    Stable Diffusion pipelines call the tokenizer: BOS, tokens[:75], EOS, padding."""
    ids = []
    for piece in CLIP_PAT.findall(cleaned):
        encoded = "".join(BYTE_ENCODER[b] for b in piece.encode("utf-8"))
        ids.extend(tok.encoder[t] for t in tok.bpe(encoded).split(" "))
    ids = [tok.bos_id] + ids[: MAX_LEN - 2] + [tok.eos_id]
    return ids + [tok.pad_id] * (MAX_LEN - len(ids))


# (class, prompt). Each class of web-pasted text the issue names, with cases where
# the reference changes the text and neighbours where it must leave it alone.
CASES = [
    # HTML entities: ftfy's own unescape (auto: off once a line has a literal "<"),
    # then html.unescape twice.
    ("html", "fish &amp; chips"),
    ("html", "&lt;b&gt;bold&lt;/b&gt; cat"),
    ("html", "fish &amp;amp; chips"),
    ("html", "fish &amp;amp;amp;amp; chips"),
    ("html", "caf&eacute; au lait"),
    ("html", "CAF&EACUTE; BUNDESSTRA&SZLIG;E &NTILDE; &nTILDE;"),
    ("html", "&quot;quoted&quot; it&#39;s it&#x27;s it&#8217;s"),
    ("html", "a&nbsp;red&nbsp;circle"),
    ("html", "x < y &amp;amp; z"),
    ("html", "<p>\nfish &amp;amp;amp; chips"),
    ("html", "fish &amp;amp;amp; chips\n<p>"),
    ("html", "&amp chips, fish &ampchips, &copy2024, &notit; AT&T R&D"),
    ("html", "wait&hellip; &mdash; &ndash; &trade; &euro;5"),
    ("html", "&#65;&#x42;&#X43; &#128512; &#x1F600;"),
    ("html", "nul&#0;x ctl&#1;x c1&#x80;&#x9d; sur&#xD800; big&#1114112; nonchar&#xFFFF;"),
    ("html", "&CounterClockwiseContourIntegral; &NotNestedGreaterGreater; &fjlig;"),
    ("html", "&unknown; &#xZZ; & amp; &;"),
    ("html", "&lt;|endoftext|&gt; red"),
    # Curly quotes and dashes.
    ("quotes", "\u201csmart quotes\u201d and \u2018single\u2019 quotes"),
    ("quotes", "it\u2019s a cat\u2019s toy, they\u2019re here, we\u2019ll see"),
    ("quotes", "rock \u2018n\u2019 roll \u201egerman\u201f \u201bodd\u201a \u02bcmodifier"),
    ("quotes", "\u00abguillemets\u00bb \u2039single\u203a 5\u2032 6\u2033"),
    ("dashes", "red\u2013blue \u2014 green \u2015 bar \u2212 minus \u2010hyphen\u2011nb"),
    # Ligatures (Latin ones are split; others stay).
    ("ligatures", "\ufb01ne \ufb02owers \ufb00 \ufb03 \ufb04 \ufb05 \ufb06"),
    ("ligatures", "\u0132ssel \u0133 \u01c4 \u01c5 \u01c6 \u01c7 \u01c8 \u01c9 \u01ca \u01cb \u01cc \u01f1 \u01f2 \u01f3"),
    ("ligatures", "\u0149 \u00e6sir \u0153uvre \ufb13 \u05f0"),
    # Fullwidth and halfwidth forms.
    ("width", "\uff21\uff22\uff23\uff11\uff12\uff13"),
    ("width", "\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33"),
    ("width", "\uff48\uff45\uff4c\uff4c\uff4f\uff0c\uff57\uff4f\uff52\uff4c\uff44\uff01"),
    ("width", "\uff35\uff80\uff70\uff9d \uff76\uff9e\uff77\uff9e \uffe5\uff11\uff10\uff10 \uffe1 \uffe8"),
    ("width", "\uffa1\uffa4 \uff5f\uff60 \uff5e tilde"),
    # Zero-width characters and joiners (ftfy keeps them).
    ("zero-width", "zero\u200bwidth space"),
    ("zero-width", "join\u200dme non\u200cjoiner"),
    ("zero-width", "\U0001F468\u200d\U0001F469\u200d\U0001F467 family"),
    ("zero-width", "word\u2060joiner \u200eltr\u200f rtl \u202aembed\u202c"),
    # Soft hyphen.
    ("soft-hyphen", "soft\u00adhyphen red\u00ad circle"),
    # Byte order mark.
    ("bom", "\ufeffa red circle"),
    ("bom", "mid\ufeffdle\ufeff"),
    # Mojibake: UTF-8 read as windows-1252 / latin-1, one and two levels, and others.
    ("mojibake", "caf\u00c3\u00a9"),
    ("mojibake", "Caf\u00c3\u00a9 au lait, na\u00c3\u00afve \u00c3\u00bcber"),
    ("mojibake", "don\u00e2\u20ac\u2122t stop"),
    ("mojibake", "\u00e2\u20ac\u0153quoted\u00e2\u20ac\x9d text"),
    ("mojibake", "\u00e2\u20ac\u0153lossy\u00e2\u20ac\ufffd text"),
    ("mojibake", "\u00c3 la mode, voil\u00c3 le travail"),
    ("mojibake", "\u00e2\u0153\u201d No problems"),
    ("mojibake", "&macr;\\_(\u00e3\x83\x84)_/&macr;"),
    ("mojibake", "caf\u00c3\u0192\u00c2\u00a9 two levels"),
    ("mojibake", "\u00c3\u0192\u00c2\u00a9t\u00c3\u0192\u00c2\u00a9 \u00c3\u0192\u00c2\u00bcber"),
    ("mojibake", "\u0420\u045f\u0421\u0402\u0420\u0451\u0420\u0406\u0420\u00b5\u0421\u201a \u043c\u0438\u0440"),
    ("mojibake", "\x93c1 quoted\x94 \x85 and\x96dash"),
    ("mojibake", "\u00e6\u2014\u00a5\u00e6\u0153\u00ac\u00e8\u00aa\u017e text"),
    ("mojibake", "\u00f0\u0178\u0090\u00b1 cat emoji"),
    ("mojibake", "mixed caf\u00c3\u00a9 and \u2603 snowman"),
    ("mojibake", "smart \u00e2\u20ac\u0153quotes\u00e2\u20ac\u009d inside \u201creal ones\u201d"),
    ("not-mojibake", "na\u00efve caf\u00e9 \u00fcber r\u00e9sum\u00e9 1 \u00d7 2\u00b2 \u00a9 2024 \u00bd"),
    ("not-mojibake", "\u00c2 \u00c3 alone, \u00c3rbol, NO\u00cbL"),
    ("not-mojibake", "\u00bf\u00bfqu\u00e9? \u00a1s\u00ed! \u00a3100 \u00a5200 \u00b0C"),
    # CJK (no splitting of ideograph runs, unlike BERT's BasicTokenizer).
    ("cjk", "\u732b\u3068\u72ac"),
    ("cjk", "\u4e00\u53ea\u7ea2\u8272\u7684\u732b"),
    ("cjk", "red\u732bcat"),
    ("cjk", "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8"),
    ("cjk", "\u6771\u4eac\u30bf\u30ef\u30fc \u4e2d\u6587\uff0c\u6807\u70b9\u3002"),
    ("cjk", "\U00020000\U0002a700 extension ideographs"),
    # Emoji.
    ("emoji", "\U0001F431 cat \U0001F44D\U0001F3FD \U0001F1EB\U0001F1F7 flag"),
    ("emoji", "\u2764\ufe0f heart \U0001F3F4\U000E0067\U000E0062\U000E0077\U000E006C\U000E0073\U000E007F wales"),
    ("emoji", "\ud83d\udca9 paired surrogates, lone \ud800 one"),
    # Combining accents: NFC.
    ("combining", "Cafe\u0301 cafe\u0301"),
    ("combining", "e\u0301\u0302 a\u0308 o\u0323\u0302 \u212b \u2126"),
    ("combining", "\u1100\u1161\u11a8 jamo, \u0915\u093c nukta"),
    # Control characters.
    ("control", "a\x00b c\x07d e\x7ff"),
    ("control", "\x1b[31mred\x1b[0m circle"),
    ("control", "vt\x0bff\x0cfs\x1cgs\x1dus\x1f"),
    ("control", "obj\ufffcrepl\ufffd \u206aarabic\u206f \ufff9anno\ufffb"),
    # Tabs, newlines and other whitespace.
    ("whitespace", "a\tb\nc\r\nd\re"),
    ("whitespace", "\u2028line\u2029para \x85nel"),
    ("whitespace", "   leading and trailing \t\n "),
    ("whitespace", "a\u3000b\u00a0c\u2009d\u202fe\u205ff\u1680g\u2007h"),
    ("whitespace", "\u180emongolian vowel separator\u180e"),
    # Case mapping as str.lower().
    ("case", "\u0130STANBUL \u039f\u0394\u039f\u03a3 STRASSE Stra\u00dfe \u212a kelvin"),
    ("case", "it'\u017f IT'S \u0345 ypogegrammeni"),
    # Special tokens written in the prompt.
    ("special", "<|startoftext|>a red circle<|endoftext|>"),
    # Long prompt: truncation after the cleanup.
    ("long", " ".join(["fish &amp; chips"] * 30)),
]


# Words to garble for the generated mojibake probes: several scripts, symbols,
# punctuation that Windows-1252 has, and emoji.
PROBE_WORDS = [
    "caf\u00e9", "na\u00efve", "\u00fcber", "r\u00e9sum\u00e9", "cr\u00e8me br\u00fbl\u00e9e", "fa\u00e7ade", "S\u00e3o Paulo",
    "Z\u00fcrich", "Krak\u00f3w", "\u0141\u00f3d\u017a", "\u0160koda", "\u0130stanbul", "\u00f1and\u00fa", "sm\u00f6rg\u00e5sbord",
    "\u00c6r\u00f8", "\u00e0 la carte", "\u00c0 bient\u00f4t", "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac",
    "\u0440\u0443\u0441\u0441\u043a\u0438\u0439", "\u0452\u0430\u043a", "\u65e5\u672c\u8a9e", "\u4e2d\u6587", "\ud55c\uad6d\uc5b4",
    "\u0639\u0631\u0628\u064a", "\u05e2\u05d1\u05e8\u05d9\u05ea", "\u0939\u093f\u0928\u094d\u0926\u0940",
    "\U0001F431", "\U0001F44D\U0001F3FD", "\u2764\ufe0f", "\u201cquoted\u201d", "don\u2019t", "\u2018single\u2019",
    "a\u2014b", "x\u2013y", "wait\u2026", "\u00bd cup", "\u20ac100", "\u00a3 5", "\u00a92024", "brand\u2122", "\u2022 item",
    "25\u00b0C", "\u00b5m", "2\u00d73", "\u00bfqu\u00e9?", "\u00a1hola!", "\u2713 ok", "\u2192 next", "\u00a0nbsp\u00a0",
    "red", "circle", "blue", "background", "a", "the", "\u00ab\u00bb",
]
PROBE_CODECS = ["latin-1", "windows-1252", "sloppy-windows-1252", "windows-1251", "windows-1250", "windows-1253",
                "windows-1254", "windows-1257", "iso-8859-2", "macroman", "cp437"]


def mojibake_probes(count, seed=20261130):
    """Text garbled the ways it happens on the web: UTF-8 decoded with a
    single-byte code page (unmappable bytes as U+FFFD), once or twice, whole
    or in part, sometimes with NBSPs turned into spaces; and clean text."""
    import random
    rng = random.Random(seed)

    def garble(text):
        codec = rng.choice(PROBE_CODECS)
        out = text.encode("utf-8").decode(codec, errors="replace")
        if rng.random() < 0.2:
            out = out.replace("\u00a0", " ")
        return out

    probes = []
    while len(probes) < count:
        words = [rng.choice(PROBE_WORDS) for _ in range(rng.randint(1, 4))]
        how = rng.randrange(5)
        if how == 1:
            words = [garble(" ".join(words))]
        elif how == 2:
            words = [garble(garble(" ".join(words)))]
        elif how == 3:
            i = rng.randrange(len(words))
            words[i] = garble(words[i])
        elif how == 4:
            words = [garble(w) if rng.random() < 0.5 else w for w in words]
        text = " ".join(words)
        if text not in probes:
            probes.append(text)
    return probes


def badness_probes(count, seed=7):
    """Short strings of the characters mojibake is made of (what the code pages
    put at bytes 0x80-0xFF), with letters and spaces, for is_bad."""
    import random
    rng = random.Random(seed)
    pool = sorted({c for name in ftfy.chardata.CHARMAP_ENCODINGS for c in bytes(range(0x80, 0x100)).decode(name)})
    pool += list("aAzZ   .,!?'")
    return ["".join(rng.choice(pool) for _ in range(rng.randint(2, 5))) for _ in range(count)]


def code_point_runs(predicate):
    """[[first, last], ...] of the code points where predicate holds."""
    runs = []
    for cp in range(0x110000):
        if predicate(cp):
            if runs and runs[-1][1] == cp - 1:
                runs[-1][1] = cp
            else:
                runs.append([cp, cp])
    return runs


def assigned(cp):
    return not 0xD800 <= cp <= 0xDFFF and unicodedata.category(chr(cp)) != "Cn"


def tables():
    """What the TypeScript port relies on, as this Python computes it, so the
    tests can hold the port's tables and the JS runtime's Unicode data to it."""
    def pretoken_class(cp):
        """How CLIP's pattern treats a character: joined to a following letter
        (L), to a following "!" (P), to neither (N), or not matched at all (S:
        whitespace, and U+0345, which IGNORECASE makes neither letter nor other)."""
        ch = chr(cp)
        if not CLIP_PAT.findall(ch):
            return "S"
        if len(CLIP_PAT.findall(ch + "a")) == 1:
            return "L"
        if len(CLIP_PAT.findall(ch + "!")) == 1:
            return "P"
        return "N"

    classes = {k: code_point_runs(lambda cp, k=k: assigned(cp) and pretoken_class(cp) == k) for k in "LNS"}
    lower = {str(cp): chr(cp).lower() for cp in range(0x110000) if assigned(cp) and chr(cp).lower() != chr(cp)}
    codepages = {
        name: bytes(range(0x80, 0x100)).decode(name) + bytes([0x1A]).decode(name)
        for name in ftfy.chardata.CHARMAP_ENCODINGS
    }
    # Every name, followed by a letter (so the names accepted without ";" show
    # their prefix rule), and every name upper-cased (ftfy decodes those that
    # html.unescape leaves alone); of the latter only the ones that change.
    names = sorted(html.entities.html5)
    unescape = {f"&{n}x": html.unescape(f"&{n}x") for n in names}
    upper = (f"&{n[:-1].upper()};" for n in names if n.endswith(";"))
    unescape.update({u: html.unescape(u) for u in upper if html.unescape(u) != u})
    # ftfy's own unescape on every name upper-cased, and on a few others.
    ftfy_extra = ["&#65;", "&#x41;", "&#xZZ;", "&#0;", "&#1;", "&#128;", "&#1114112;", "&amp", "&ampx;", "&#" + "9" * 22 + ";",
                  "&eacute;", "&Eacute;", "&EAcute;", "&nTILDE;", "&CounterClockwiseContourIntegral;"]
    ftfy_probes = [f"&{n[:-1].upper()};" for n in names if n.endswith(";")] + ftfy_extra
    return {
        "unicode_version": unicodedata.unidata_version,
        "regex_version": regex.__version__,
        "python_whitespace": [cp for cp in range(0x110000) if chr(cp).isspace()],
        "pretoken_classes": classes,
        "assigned": code_point_runs(assigned),
        "lower": lower,
        "codepages": codepages,
        "html_entity_names": names,
        "html_unescape": unescape,
        # (its output only where it changes the text)
        "ftfy_unescape_html": {k: ftfy.fixes.unescape_html(k) for k in ftfy_probes if ftfy.fixes.unescape_html(k) != k},
        "ftfy_unescape_extra": ftfy_extra,
        # ftfy.fix_text alone, on generated mojibake and clean text
        "fix_text": [[t, ftfy.fix_text(t)] for t in mojibake_probes(600)],
        # ftfy's badness verdict on short strings of mojibake characters
        "is_bad": [[t, ftfy.badness.is_bad(t)] for t in badness_probes(3000)],
    }


def write_entities_ts(path):
    """Python's html.entities.html5 (the WHATWG list) as a TypeScript module."""
    with_semicolon = {n[:-1]: v for n, v in html.entities.html5.items() if n.endswith(";")}
    legacy = sorted(n for n in html.entities.html5 if not n.endswith(";"))
    assert all(html.entities.html5[n] == with_semicolon[n] for n in legacy)

    def lit(s):
        return json.dumps(s, ensure_ascii=True)

    lines = [
        "// Generated by models/shapes-ldm/recipe/tokenizer_reference.py from Python "
        f"{sys.version_info.major}.{sys.version_info.minor}'s",
        "// html.entities.html5 (the WHATWG named character references). Do not edit.",
        "",
        "/** Entity name (without the `;`) → its text. */",
        "export const HTML5_ENTITIES: ReadonlyMap<string, string> = new Map([",
    ]
    lines += [f"  [{lit(n)}, {lit(v)}]," for n, v in sorted(with_semicolon.items())]
    lines += [
        "]);",
        "",
        "/** The names HTML also accepts without the `;` (legacy references). */",
        "export const LEGACY_ENTITY_NAMES: ReadonlySet<string> = new Set([",
    ]
    lines += [f"  {lit(n)}," for n in legacy]
    lines += ["]);", ""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main():
    tok = CLIPTokenizer.load(os.path.join(MODEL, "tokenizer"))
    seen = set()
    fixtures = []
    for cls, prompt in CASES:
        assert prompt not in seen, prompt
        seen.add(prompt)
        cleaned = reference_clean(prompt)
        fixtures.append({"class": cls, "prompt": prompt, "cleaned": cleaned, "input_ids": reference_ids(tok, cleaned)})
    out = {
        "reference": "OpenAI CLIP simple_tokenizer cleanup: whitespace_clean(basic_clean(text)).lower()",
        "ftfy_version": ftfy.__version__,
        "python_version": sys.version.split()[0],
        "bos_id": tok.bos_id,
        "eos_id": tok.eos_id,
        "pad_id": tok.pad_id,
        "model_max_length": MAX_LEN,
        "fixtures": fixtures,
        "tables": tables(),
    }
    with open(os.path.join(HERE, "tokenizer_reference_fixtures.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    write_entities_ts(os.path.join(ROOT, "worker", "src", "pipeline", "text-cleanup", "html-entities.ts"))
    changed = sum(1 for fx in fixtures if fx["cleaned"] != re.sub(r"\s+", " ", fx["prompt"]).strip().lower())
    print(f"{len(fixtures)} cases ({changed} changed by ftfy/html beyond whitespace and case), ftfy {ftfy.__version__}")
    for fx in fixtures:
        print(f"  {fx['class']:>12}  {fx['prompt']!r:.60}  ->  {fx['cleaned']!r:.60}")


if __name__ == "__main__":
    main()
