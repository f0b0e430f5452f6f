"""Syndication benchmark for near-duplicate detection.

A seeded, deterministic generator of syndication cases built from synthetic
stories (no external data):

  positives (same story):  re-titled copies (title line added to the text),
    wire credits / datelines / bylines / site boilerplate added, last
    paragraph(s) trimmed, re-led (first paragraph rewritten), re-flowed
    (paragraph breaks changed), a few words edited, URL variants;
  hard negatives (different stories): other stories about the same event
    sharing names, a quoted statement and stock phrases; follow-ups that
    reuse background paragraphs of an earlier story.

It reports pairwise precision / recall (pairs of inputs placed in one story
vs the truth) of transforms.dedup.near_duplicates.find_near_duplicates.

    python bench/syndication.py --n 2000 --threshold 0.75
    python bench/syndication.py --n 2000 --sweep
    python bench/syndication.py --scale 20000
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from transforms.dedup import near_duplicates as nd  # noqa: E402
from transforms.ingest.urls import canonical_url  # noqa: E402

# ---------------------------------------------------------------------------
# Vocabulary

_ONSETS = [
    "b",
    "br",
    "c",
    "ch",
    "d",
    "dr",
    "f",
    "g",
    "gr",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "pr",
    "r",
    "s",
    "sh",
    "st",
    "t",
    "tr",
    "v",
    "w",
    "z",
    "qu",
    "pl",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io", "ee"]
_CODAS = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "rt"]

FUNCTION = (
    "the of and to in a that for on with as by at from was were is has have "
    "had will would could said after before over under about into against "
    "during while since this those their its his her they he she it which"
).split()

STOCK_PHRASES = [
    "said in a statement on",
    "told reporters on",
    "according to a person familiar with the matter",
    "did not immediately respond to a request for comment",
    "the latest in a series of",
    "officials said on condition of anonymity",
    "it was not immediately clear whether",
    "in the wake of the",
    "for the first time since",
    "is expected to",
    "a spokesperson for the",
    "at a news conference in",
    "declined to comment on",
    "the move comes as",
    "the announcement was made",
    "more than a dozen",
]

BOILERPLATE = [
    "Read more: {t}",
    "READ MORE:",
    "Related: {t}",
    "Share this article",
    "Share on Facebook",
    "Sign up for our newsletter to get the latest news in your inbox.",
    "Copyright 2024 The Associated Press. All rights reserved. This material may not be "
    "published, broadcast, rewritten or redistributed.",
    "(c) 2024 Reuters. All rights reserved.",
    "Follow us on Twitter and Facebook.",
    "Advertisement",
    "Click here to subscribe",
    "Photo: {n} / Getty Images",
    "This article originally appeared on {s}.",
    "Additional reporting by {n}; editing by {n2}",
    "{n} contributed to this report.",
    "Updated {d}",
    # site furniture the stripper does not know about
    "Our journalism depends on readers like you: support independent reporting today.",
    "Download the app for breaking news alerts.",
]
CREDITS = ["{C} (AP) — ", "{C} (Reuters) - ", "{C}, March 3 (Reuters) - ", "Reuters - ", "(AFP) - ", "{C} -- ", "AP — "]


def _word(rng):
    return "".join(
        rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(rng.choice((1, 2, 2, 3)))
    )


class Vocab:
    def __init__(self, rng, size=20000):
        words = set()
        while len(words) < size:
            words.add(_word(rng))
        self.words = sorted(words)
        self.rng = rng

    def name(self):
        w = self.rng.choice(self.words)
        return w.capitalize()


# ---------------------------------------------------------------------------
# Stories


class Event:
    def __init__(self, rng, vocab):
        self.people = [f"{vocab.name()} {vocab.name()}" for _ in range(4)]
        self.orgs = [
            f"{vocab.name()} {rng.choice(['Group', 'Ministry', 'Council', 'Corp', 'Party'])}" for _ in range(3)
        ]
        self.place = vocab.name()
        self.city = vocab.name().upper()
        # a quoted statement every story about the event repeats
        self.quote = " ".join(rng.choice(vocab.words) for _ in range(rng.randint(10, 18)))
        self.topic = [rng.choice(vocab.words) for _ in range(30)]


def sentence(rng, vocab, event):
    n = rng.randint(12, 26)
    out = []
    while len(out) < n:
        r = rng.random()
        if r < 0.30:
            out.append(rng.choice(FUNCTION))
        elif r < 0.45:
            out.append(rng.choice(event.topic))
        elif r < 0.52:
            out.extend(rng.choice(event.people + event.orgs + [event.place]).split())
        elif r < 0.56:
            out.extend(rng.choice(STOCK_PHRASES).split())
        else:
            out.append(rng.choice(vocab.words))
    if rng.random() < 0.08:
        out.extend(["said", rng.choice(event.people), '"' + event.quote + '"'])
    s = " ".join(out)
    return s[0].upper() + s[1:] + "."


def paragraph(rng, vocab, event):
    return " ".join(sentence(rng, vocab, event) for _ in range(rng.randint(1, 4)))


def story(rng, vocab, event, n_paras=None, background=None):
    n_paras = n_paras or rng.randint(6, 14)
    paras = [paragraph(rng, vocab, event) for _ in range(n_paras)]
    if background:
        paras[len(paras) // 2 : len(paras) // 2] = background
    return paras


# ---------------------------------------------------------------------------
# Syndication transforms


def syndicate(rng, vocab, event, paras, title, strength):
    """A copy of a story as another site would publish it."""
    paras = list(paras)
    ops = []
    if rng.random() < 0.5 * strength + 0.2:  # trim last paragraph(s)
        k = rng.randint(1, max(1, int(len(paras) * 0.4)))
        if len(paras) - k >= 3:
            paras = paras[:-k]
            ops.append(f"trim{k}")
    if rng.random() < 0.35 * strength:  # re-led
        paras[0] = paragraph(rng, vocab, event)
        ops.append("relede")
    if rng.random() < 0.5:  # re-flow
        flowed, buf = [], []
        for p in paras:
            for s in p.split(". "):
                buf.append(s.rstrip(".") + ".")
                if rng.random() < 0.35:
                    flowed.append(" ".join(buf))
                    buf = []
        if buf:
            flowed.append(" ".join(buf))
        paras = flowed
        ops.append("reflow")
    if rng.random() < 0.6 * strength + 0.1:  # edit a few words
        words_total = sum(len(p.split()) for p in paras)
        for _ in range(rng.randint(1, max(1, words_total // 60))):
            i = rng.randrange(len(paras))
            ws = paras[i].split()
            j = rng.randrange(len(ws))
            ws[j] = rng.choice(vocab.words)
            paras[i] = " ".join(ws)
        ops.append("edit")
    if rng.random() < 0.6:  # wire credit / dateline
        paras[0] = rng.choice(CREDITS).format(C=event.city) + paras[0]
        ops.append("credit")
    fill = dict(t=title, n=vocab.name(), n2=vocab.name(), s=vocab.name() + ".com", d="March 4, 2024")
    if rng.random() < 0.6:  # site boilerplate
        for _ in range(rng.randint(1, 4)):
            line = rng.choice(BOILERPLATE).format(**fill)
            paras.insert(rng.choice([0, len(paras) // 2, len(paras)]), line)
        ops.append("boiler")
    if rng.random() < 0.4:
        paras.insert(0, f"By {vocab.name()} {vocab.name()}")
        ops.append("byline")
    if rng.random() < 0.3:  # re-titled, title line in the text
        paras.insert(0, title + " " + rng.choice(vocab.words))
        ops.append("title")
    return paras, ops


def url_variants(rng, url):
    host, path = url.split("/", 3)[2], "/" + url.split("/", 3)[3]
    opts = [
        f"http://www.{host}{path}?utm_source=twitter&utm_medium=social",
        f"https://m.{host}{path}/amp?fbclid=IwAR{rng.randint(0, 10**6)}",
        f"https://{host}:443{path}/#comments",
        f"https://amp.{host}{path}?ocid=msn&sid={rng.randint(0, 10**6)}",
        f"HTTPS://{host.upper()}{path};jsessionid=ABC{rng.randint(0, 999)}",
        f"https://{host}{path}.amp?ref=homepage",
    ]
    return rng.sample(opts, 2)


# ---------------------------------------------------------------------------
# Data set


def generate(n: int, seed: int = 7):
    """About n articles: list of dicts (ARTICLES subset) with 'story' truth."""
    rng = random.Random(seed)
    vocab = Vocab(rng)
    t0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
    arts = []
    story_no = 0
    while len(arts) < n:
        event = Event(rng, vocab)
        bases = []
        # 1-3 distinct stories about the same event (hard negatives)
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            bases.append(story(rng, vocab, event))
        # a follow-up reusing another story's background paragraphs
        if rng.random() < 0.4:
            src = rng.choice(bases)
            # background: 2 paragraphs up to a third of the source; the
            # follow-up's own new reporting is at least as long again + 2
            k = rng.randint(2, max(2, len(src) // 3))
            start = rng.randrange(0, len(src) - k + 1)
            bases.append(
                story(rng, vocab, event, n_paras=rng.randint(k + 2, k + 10), background=src[start : start + k])
            )
        for paras in bases:
            story_no += 1
            sid = f"s{story_no:06d}"
            title = " ".join(rng.choice(vocab.words) for _ in range(6)).capitalize()
            published = t0 + timedelta(minutes=rng.randint(0, 60 * 24 * 30))
            url = f"https://{vocab.name().lower()}.com/news/{sid}"
            copies = rng.choice((0, 0, 1, 1, 2, 3, 4, 6))
            versions = [(paras, ["original"])]
            for _ in range(copies):
                versions.append(syndicate(rng, vocab, event, paras, title, strength=rng.random()))
            for c, (ps, ops) in enumerate(versions):
                text = "\n".join(ps)
                arts.append(
                    {
                        "article_id": f"{sid}-{c}",
                        "story": sid,
                        "ops": ops,
                        "url": url if c == 0 else rng.choice(url_variants(rng, url) + [url]),
                        "orig_url": url,
                        "text": text,
                        "published_at": published + timedelta(minutes=rng.randint(0, 600) * (c > 0)),
                        "word_count": len(text.split()),
                    }
                )
    return arts[:n] if len(arts) > n else arts


def pairwise_pr(truth: dict, predicted: dict):
    """Pairwise precision/recall of two labelings {id: cluster}."""

    def pairs(counter):
        return sum(c * (c - 1) // 2 for c in counter.values())

    both = Counter((truth[i], predicted[i]) for i in truth)
    tp = pairs(both)
    pred = pairs(Counter(predicted.values()))
    true = pairs(Counter(truth.values()))
    p = tp / pred if pred else 1.0
    r = tp / true if true else 1.0
    return p, r, tp, pred, true


def evaluate(arts, threshold, min_jaccard, existing_split=False):
    if existing_split:
        # every other story's original is "stored": verify against sketches
        stored = [a for a in arts if a["article_id"].endswith("-0") and hash_even(a)]
        stored_ids = {a["article_id"] for a in stored}
        rows = [nd.signature_row(a, run_id="r0") for a in stored]
        new = [a for a in arts if a["article_id"] not in stored_ids]
        decisions = nd.find_near_duplicates(new, threshold, existing=rows, min_jaccard=min_jaccard)
    else:
        decisions = nd.find_near_duplicates(arts, threshold, min_jaccard=min_jaccard)
    predicted = {a["article_id"]: decisions.get(a["article_id"], a["article_id"]) for a in arts}
    truth = {a["article_id"]: a["story"] for a in arts}
    return pairwise_pr(truth, predicted), decisions


def hash_even(a):
    return int(a["story"][1:]) % 2 == 0


def errors(arts, decisions, limit=8):
    by_id = {a["article_id"]: a for a in arts}
    pred = defaultdict(set)
    for a in arts:
        pred[decisions.get(a["article_id"], a["article_id"])].add(a["article_id"])
    fp, fn = [], []
    for members in pred.values():
        stories = Counter(by_id[m]["story"] for m in members)
        if len(stories) > 1:
            fp.append(sorted(members))
    for _sid, members in _group(arts).items():
        clusters = {decisions.get(m, m) for m in members}
        if len(clusters) > 1:
            missed = [m for m in members if decisions.get(m, m) != decisions.get(members[0], members[0])]
            fn.extend((m, by_id[m]["ops"]) for m in missed)
    return fp[:limit], fn[:limit]


def _group(arts):
    g = defaultdict(list)
    for a in arts:
        g[a["story"]].append(a["article_id"])
    return g


def url_check(arts):
    ok = sum(canonical_url(a["url"]) == canonical_url(a["orig_url"]) for a in arts)
    return ok, len(arts)


# ---------------------------------------------------------------------------
# Scale


def scale_articles(n: int, seed: int = 11, words: int = 250):
    """n articles of ~`words` words, ~15% near copies of another."""
    import numpy as np

    rng = np.random.default_rng(seed)
    vocab = Vocab(random.Random(seed), size=50000).words
    vocab_arr = np.array(vocab)
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    out = []
    base_texts = []
    for i in range(n):
        if base_texts and rng.random() < 0.15:
            src = base_texts[int(rng.integers(len(base_texts)))].split()
            cut = int(len(src) * rng.uniform(0.7, 1.0))
            src = src[:cut]
            for _ in range(3):
                src[int(rng.integers(len(src)))] = vocab[int(rng.integers(len(vocab)))]
            text = " ".join(src)
        else:
            text = " ".join(vocab_arr[rng.integers(0, len(vocab), words)])
            base_texts.append(text)
        out.append(
            {"article_id": f"a{i:07d}", "text": text, "published_at": t0 + timedelta(seconds=i), "word_count": words}
        )
    return out


def run_scale(n: int):
    arts = scale_articles(n)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats = {}
    t = time.perf_counter()
    decisions = nd.find_near_duplicates(arts, stats=stats)
    dt = time.perf_counter() - t
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"scale n={n}: {dt:.1f}s total, {dt / n * 1e6:.0f} us/article, "
        f"candidates={stats.get('candidates')} edges={stats.get('edges')} "
        f"losers={len(decisions)}, peak RSS {rss1 / 1024:.0f} MB "
        f"(+{(rss1 - rss0) / 1024:.0f} MB during dedup)"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threshold", type=float, default=nd.DEFAULT_THRESHOLD)
    ap.add_argument("--min-jaccard", type=float, default=nd.DEFAULT_MIN_JACCARD)
    ap.add_argument("--sweep", action="store_true", help="several thresholds")
    ap.add_argument(
        "--existing", action="store_true", help="half the originals as stored signatures (sketch verification)"
    )
    ap.add_argument("--errors", action="store_true", help="print some errors")
    ap.add_argument("--scale", type=int, help="time the pure path on N articles")
    args = ap.parse_args(argv)
    if args.scale:
        run_scale(args.scale)
        return
    arts = generate(args.n, args.seed)
    ok, total = url_check(arts)
    print(f"{len(arts)} articles, {len(_group(arts))} stories; URL variants canonicalised: {ok}/{total}")
    thresholds = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9] if args.sweep else [args.threshold]
    for th in thresholds:
        (p, r, tp, pred, true), decisions = evaluate(arts, th, args.min_jaccard, args.existing)
        print(
            f"threshold={th:.2f} min_jaccard={args.min_jaccard:.2f}: "
            f"P={p:.4f} R={r:.4f} (tp={tp} predicted={pred} true={true})"
        )
        if args.errors:
            fp, fn = errors(arts, decisions)
            print("  false merges:", fp)
            print("  missed:", fn)


if __name__ == "__main__":
    main()
