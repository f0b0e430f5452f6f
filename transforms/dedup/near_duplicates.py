"""Near-duplicate detection: MinHash over word shingles, LSH banding, exact
verification by Jaccard *and* containment, connected components.

Pure functions first (tested without Beam), then the Beam DoFn that packs band keys
(decide.Deduplicate and pairs.py wire them together; see docs/dedup_model.md):

    article -> key row (shingle hashes -> sketch + minhash, no text) -> band keys
    packed per bundle (PackBandEntriesFn) ---GroupByKey by band shard---> sorted ->
    candidate pairs, packed (pairs.CandidatePairs) ---GroupByKey by the id shards of
    the pair---> verified against the two shards' records, read from pending files
    ---> edges ---union-find (CombineGlobally)---> loser -> winner ---side input--->
    rows marked (pairs.VerifyAndMark).

Nothing compares all pairs: a pair is only looked at when the two articles
share a band key.  Earlier runs enter as SIGNATURES rows (compact: no text)
through the same band-key shards, never as a side input.

Determinism: every hash is blake2b or fixed 64-bit arithmetic in numpy with
constants derived from blake2b; nothing depends on Python's hash(), the
process, the worker or numpy's random streams.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np

from transforms.articles import ARTICLE_ID, character_folder

# ---------------------------------------------------------------------------
# Parameters

SIGNATURE_VERSION = 1  # bump when normalisation / shingling / hashing changes
SHINGLE_SIZE = 5  # words per shingle
NUM_PERM = 126  # minhash values per article (42 bands x 3 rows)
BANDS = 42  # LSH bands of NUM_PERM // BANDS = 3 rows (see docs/dedup_model.md)
SKETCH_MAX = 512  # max shingle hashes kept per stored signature
MIN_SHINGLES = 8  # shorter texts are left to exact dedup
MAX_BUCKET = 3  # band buckets larger than this are chained, not compared all to all
BUCKET_WINDOW = 2  # ... each member with its next 2 (by id): components still connect

# Decision: containment (overlap coefficient, |A∩B| / min(|A|,|B|)) at least
# `threshold` and Jaccard at least `min_jaccard` (keeps a two-paragraph brief
# from matching the twenty-paragraph story it was cut from).  Chosen from
# bench/syndication.py measurements, see docs/dedup_model.md.
DEFAULT_THRESHOLD = 0.75
DEFAULT_MIN_JACCARD = 0.2

_M64 = (1 << 64) - 1


def _const64(name: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(f"newsbeam/near-dup/v{SIGNATURE_VERSION}/{name}".encode(), digest_size=8).digest(), "little"
    )


_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised, wrapping uint64 arithmetic."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


# ---------------------------------------------------------------------------
# Normalisation for shingling (boilerplate stripping)

_fold_quotes = character_folder(
    {c: "'" for c in "\u2018\u2019\u201a\u201b\u2032`\u00b4"}
    | {c: '"' for c in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"}
    | {c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"}
)

_WIRES = r"(?:AP|A\.P\.|Reuters|AFP|UPI|dpa|DPA|Bloomberg|CNN|PA|ANSA|EFE|Xinhua|IANS|PTI|CP|Kyodo|Yonhap)"
# "WASHINGTON (AP) — ", "LONDON, March 3 (Reuters) - ", "Reuters - ", "(AFP) -"
_DATELINE = re.compile(
    r"^\s*(?:[A-Z][A-Za-z0-9 .,'\-]{0,60}?\s*)?(?:\(\s*" + _WIRES + r"\s*\)|" + _WIRES + r"\b)\s*[-:|]+\s*"
)
_CAPS_DATELINE = re.compile(r"^\s*[A-Z][A-Z .,'\-]{2,40}\s*[-:]\s+(?=[A-Z])")

# Whole paragraphs (lines) that are site furniture, when short.
_BOILERPLATE_LINE = re.compile(
    r"""^\s*(?:
        (?:by|written\ by|words\ by|story\ by|reporting\ by|report\ by)\s+\S.{0,80}$
      | (?:updated|published|posted|last\ updated|first\ published)\b.{0,80}$
      | (?:read|see|watch|listen)\ (?:more|also|next|the\ full\ story)\b.*
      | (?:related|recommended|more\ on\ this|more\ from|also\ read|don't\ miss|trending)\b.*
      | (?:share|tweet|email|print|save|follow\ us|like\ us|join\ us)\b.{0,80}$
      | (?:sign\ up|subscribe|register|get\ our|get\ the)\b.*(?:newsletter|email|inbox|alerts?|updates?|subscription).*
      | (?:copyright|\(c\)|©|all\ rights\ reserved).*
      | .*(?:all\ rights\ reserved|may\ not\ be\ published,\ broadcast|rewritten\ or\ redistributed).*
      | (?:this\ (?:article|story|report)\ (?:was\ |has\ been\ |is\ )?
         (?:originally|first|updated|republished|published|corrected|produced|adapted)).*
      | (?:originally\ published|first\ appeared|appeared\ first)\b.*
      | (?:additional\ reporting|editing\ by|writing\ by|compiled\ by|contributing|with\ reporting)\b.*
      | .{0,80}\b(?:contributed\ to\ this\ (?:report|story|article))\b.*
      | (?:photo|image|video|picture|graphic|caption|credit|file\ photo)s?\s*[:|(].{0,150}$
      | (?:advertisement|advert|sponsored|ad|promoted|click\ here|tap\ here|continue\ reading)\b.{0,60}$
      | (?:contact|email|follow)\ (?:the\ )?(?:reporter|author|writer|us)\b.*
      | \(?(?:ap|reuters|afp|upi|dpa|bloomberg)\)?\s*$
      | [-*_=#~.\s]+$
    )""",
    re.IGNORECASE | re.VERBOSE,
)

# Boilerplate sentences inside longer paragraphs.
_BOILERPLATE_SENTENCE = re.compile(
    r"(?:sign up for (?:our|the) [^.!?]*newsletter[^.!?]*|subscribe to (?:our|the) [^.!?]*"
    r"|read more(?: at| on|:)[^.!?]*|click here[^.!?]*|follow us on [^.!?]*"
    r"|share (?:this|on) [^.!?]*|all rights reserved|copyright [^.!?]*"
    r"|this (?:article|story) (?:was )?(?:originally|first) (?:published|appeared)[^.!?]*)[.!?]?",
    re.IGNORECASE,
)

# Words one of which every _BOILERPLATE_SENTENCE match contains: texts without any skip
# that regex, which is slow (it tries every position).
_SENTENCE_TRIGGERS = (
    "sign up",
    "subscribe",
    "read more",
    "click here",
    "follow us",
    "share",
    "rights reserved",
    "copyright",
    "this article",
    "this story",
)

_WORD = re.compile(r"\w+", re.UNICODE)
_MAX_BOILERPLATE_WORDS = 40
# Matches a line of more than _MAX_BOILERPLATE_WORDS words (runs of \w, as _WORD finds
# them), stopping at the one past the limit: counting every word of every line was a
# quarter of strip_boilerplate's time.
_LONGER_THAN_BOILERPLATE = re.compile(rf"(?:\W*\w+\b){{{_MAX_BOILERPLATE_WORDS + 1}}}")


def strip_boilerplate(text: str | None) -> str:
    """The text with bylines, wire credits and datelines, share/newsletter
    prompts, "Read more"/"Related" lines, copyright lines and the like
    removed.  Paragraph structure (lines) is kept."""
    if not text:
        return ""
    text = _fold_quotes(unicodedata.normalize("NFKC", text))
    lowered = text.lower()
    has_sentences = any(trigger in lowered for trigger in _SENTENCE_TRIGGERS)
    kept = []
    for line in text.split("\n"):
        line = line.strip()
        if not _WORD.search(line):
            continue
        if not _LONGER_THAN_BOILERPLATE.match(line) and _BOILERPLATE_LINE.match(line):
            continue
        line = _DATELINE.sub("", line, count=1)
        line = _CAPS_DATELINE.sub("", line, count=1)
        if has_sentences:
            line = _BOILERPLATE_SENTENCE.sub(" ", line)
        if _WORD.search(line):
            kept.append(line)
    return "\n".join(kept)


def normalize_for_shingling(text: str | None) -> str:
    """Boilerplate stripped, NFKC, case-folded, quotes and dashes folded,
    punctuation dropped, whitespace (incl. paragraph breaks) collapsed."""
    return " ".join(tokens(text))


def tokens(text: str | None) -> list:
    return _WORD.findall(strip_boilerplate(text).casefold())


def shingles(text: str | None, k: int = SHINGLE_SIZE) -> set:
    """The set of k-word shingles (tuples) of the normalised text; a text
    shorter than k words is one shingle."""
    toks = tokens(text)
    if not toks:
        return set()
    if len(toks) < k:
        return {tuple(toks)}
    return {tuple(toks[i : i + k]) for i in range(len(toks) - k + 1)}


@lru_cache(maxsize=1 << 17)
def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8, person=b"nb-word").digest(), "little")


_POS = np.array([_const64(f"pos{i}") | 1 for i in range(16)], dtype=np.uint64)


def shingle_hashes(text: str | None, k: int = SHINGLE_SIZE) -> np.ndarray:
    """Sorted unique uint32 hashes of the k-word shingles (stable across
    processes, runs and machines)."""
    toks = tokens(text)
    return hash_token_shingles(toks, k)


def hash_token_shingles(toks: list, k: int = SHINGLE_SIZE) -> np.ndarray:
    if not toks:
        return np.empty(0, dtype=np.uint32)
    w = np.fromiter((_word_hash(t) for t in toks), dtype=np.uint64, count=len(toks))
    kk = min(k, len(w))
    n = len(w) - kk + 1
    acc = np.zeros(n, dtype=np.uint64)
    for j in range(kk):
        acc ^= _splitmix(w[j : j + n] * _POS[j])
    acc = _splitmix(acc + np.uint64(kk))
    return sorted_unique((acc >> np.uint64(32)).astype(np.uint32))


# ---------------------------------------------------------------------------
# MinHash and LSH bands


@lru_cache(maxsize=8)
def _perm_params(num_perm: int):
    a = np.array([_const64(f"a{i}") | 1 for i in range(num_perm)], dtype=np.uint64)
    b = np.array([_const64(f"b{i}") for i in range(num_perm)], dtype=np.uint64)
    return a, b


_EMPTY32 = np.uint32(0xFFFFFFFF)


def minhash(hashes: np.ndarray, num_perm: int = NUM_PERM) -> np.ndarray:
    """MinHash signature (uint32[num_perm]) of a set of uint32 shingle hashes,
    with multiply-add-shift permutations h_i(x) = (a_i x + b_i) >> 32 (mod 2^64)."""
    a, b = _perm_params(num_perm)
    if len(hashes) == 0:
        return np.full(num_perm, _EMPTY32, dtype=np.uint32)
    out = np.empty(num_perm, dtype=np.uint32)
    x = np.asarray(hashes, dtype=np.uint64)
    step = max(1, (1 << 20) // num_perm)  # bound the temporary to ~8 MB
    first = True
    for s in range(0, len(x), step):
        chunk = x[s : s + step, None] * a[None, :] + b[None, :]
        m = (chunk >> np.uint64(32)).min(axis=0).astype(np.uint32)
        out = m if first else np.minimum(out, m)
        first = False
    return out


@lru_cache(maxsize=8)
def _band_seeds(bands: int):
    return np.array([_const64(f"band{j}") for j in range(bands)], dtype=np.uint64)


def band_keys(signature: np.ndarray, bands: int = BANDS) -> list:
    """One signed 64-bit key per band: (band index, the band's rows) hashed.
    Two articles are LSH candidates iff they share at least one key."""
    sig = np.asarray(signature, dtype=np.uint64)
    if len(sig) % bands:
        raise ValueError(f"{len(sig)} minhash values do not split into {bands} bands")
    rows = sig.reshape(bands, -1)
    k = _band_seeds(bands).copy()
    for c in range(rows.shape[1]):
        k = _splitmix(k ^ rows[:, c])
    return k.view(np.int64).tolist()


def candidate_probability(jaccard: float, bands: int = BANDS, num_perm: int = NUM_PERM) -> float:
    """Probability that a pair with this Jaccard shares a band key."""
    r = num_perm // bands
    return 1.0 - (1.0 - jaccard**r) ** bands


# ---------------------------------------------------------------------------
# Compact records and exact verification


def sketch(hashes: np.ndarray, max_size: int = SKETCH_MAX):
    """(level, hashes below 2^32 >> level): a consistent sample of the shingle
    hashes, at the smallest level that keeps at most max_size of them.  Level
    0 is the whole set.  Two sketches are compared at the larger level."""
    hashes = np.asarray(hashes, dtype=np.uint32)
    level = 0
    while True:
        cut = _cut(hashes, level)
        if cut <= max_size:
            return level, hashes[:cut]
        level += 1


def _cut(sorted_hashes: np.ndarray, level: int) -> int:
    if level == 0:
        return len(sorted_hashes)
    limit = (1 << 32) >> level
    return int(np.searchsorted(sorted_hashes, limit, side="left"))


def similarity(a_hashes, a_level: int, a_count: int, b_hashes, b_level: int, b_count: int):
    """(jaccard, containment) of two shingle sets given as (sorted hashes,
    sample level, exact set size).  Exact when both levels are 0; otherwise an
    unbiased estimate from the consistent samples.  containment is the overlap
    coefficient |A∩B| / min(|A|, |B|): 1.0 when a trimmed copy is wholly
    inside the original."""
    if a_count <= 0 or b_count <= 0:
        return 0.0, 0.0
    level = max(a_level, b_level)
    a = np.asarray(a_hashes, dtype=np.uint32)
    b = np.asarray(b_hashes, dtype=np.uint32)
    a = a[: _cut(a, level)]
    b = b[: _cut(b, level)]
    inter = len(np.intersect1d(a, b, assume_unique=True)) * float(1 << level)
    inter = min(inter, float(a_count), float(b_count))
    union = a_count + b_count - inter
    return inter / union, inter / min(a_count, b_count)


def is_near_duplicate(
    jaccard: float, containment: float, threshold: float = DEFAULT_THRESHOLD, min_jaccard: float = DEFAULT_MIN_JACCARD
) -> bool:
    return containment >= threshold and jaccard >= min_jaccard


@dataclass(frozen=True)
class Record:
    """What the near-dup stages carry per article: ids, winner-choice data
    and the (sampled) shingle set.  No text."""

    article_id: str
    existing: bool
    published: float  # POSIX seconds; +inf when unknown
    text_length: int
    count: int  # exact number of distinct shingles
    level: int  # sample level of `hashes` (0 = all)
    hashes: bytes  # sorted uint32 little-endian

    def array(self) -> np.ndarray:
        return np.frombuffer(self.hashes, dtype="<u4")

    @property
    def meta(self):
        return (self.article_id, self.existing, self.published, self.text_length)


def verify(
    a: Record, b: Record, threshold: float = DEFAULT_THRESHOLD, min_jaccard: float = DEFAULT_MIN_JACCARD
) -> bool:
    """Exact check of an LSH candidate pair (estimated when one side is a
    stored, sampled signature)."""
    if a.article_id == b.article_id:
        return False
    j, c = similarity(a.array(), a.level, a.count, b.array(), b.level, b.count)
    return is_near_duplicate(j, c, threshold, min_jaccard)


def _timestamp(value) -> float:
    if value is None:
        return math.inf
    if isinstance(value, (int, float)):
        return float(value)
    try:
        if getattr(value, "tzinfo", None) is None:
            value = value.replace(tzinfo=timezone.utc)
        return float(value.timestamp())
    except Exception:  # noqa: BLE001
        return math.inf


def winner_key(meta) -> tuple:
    """Sort key: the smallest wins.  Stored (earlier-run) copies first, then
    earliest published_at, then longest text, then smallest article_id."""
    article_id, existing, published, text_length = meta
    return (0 if existing else 1, published, -int(text_length or 0), article_id)


def choose_winner(metas) -> tuple:
    return min(metas, key=winner_key)


def uint32s(value) -> np.ndarray:
    """Hashes kept as little-endian bytes (key rows) or as a list (stored rows)."""
    if isinstance(value, (bytes, bytearray)):
        return np.frombuffer(value, dtype="<u4")
    return np.asarray(value if value is not None else [], dtype=np.uint32)


def article_key(article: dict) -> dict:
    """The compact row deduplication works on: what picks winners and the text's
    signature (as bytes), no text. Computed once per article; the signatures
    table is written from it, so the text is shingled once."""
    text = article.get("text") or ""
    h = shingle_hashes(text)
    level, sampled = sketch(h)
    return {
        "article_id": article["article_id"],
        "input": article.get("input"),
        "canonical_url": article.get("canonical_url"),
        "content_hash": article.get("content_hash"),
        "published_at": article.get("published_at"),
        "text_length": len(text),
        "word_count": article.get("word_count"),
        "date": article.get("date"),
        "run_id": article.get("run_id"),
        "signature_version": SIGNATURE_VERSION,
        "shingle_count": int(len(h)),
        "sketch_level": int(level),
        "sketch": np.asarray(sampled, dtype="<u4").tobytes(),
        "minhash": minhash(h).astype("<u4").tobytes(),
        "duplicate_of": None,
        "duplicate_reason": None,
        "revision_of": None,
    }


SIGNATURE_FIELDS = ("sketch", "minhash")  # the hash lists of a key row or stored signature


def compact_signature(row: dict) -> dict:
    """A stored SIGNATURES row with its hash lists as bytes, as key rows keep them:
    a list of 512 Python ints takes ten times the memory, and every stored row
    passes through the dedup shuffles of each later run."""
    band_keys = row.get("band_keys")
    return {
        **row,
        **{name: uint32s(row.get(name)).astype("<u4").tobytes() for name in SIGNATURE_FIELDS},
        "band_keys": None if band_keys is None else np.asarray(band_keys, dtype="<i8").tobytes(),
    }


def record_from_article(article: dict) -> Record | None:
    """The Record of an article with its text (a new article)."""
    return record_from_signature(article_key(article), existing=False)


SIGNATURE_META = (
    "article_id",
    "canonical_url",
    "content_hash",
    "published_at",
    "text_length",
    "word_count",
    "signature_version",
    "shingle_count",
    "sketch_level",
)


def signature_meta(key: dict, run_id: str | None = None, date: str | None = None) -> dict:
    """The SIGNATURES columns of a key row other than its hash lists and band keys."""
    published = key.get("published_at")
    if date is None:
        date = key.get("date") or (published.strftime("%Y-%m-%d") if isinstance(published, datetime) else None)
    return {
        **{name: key.get(name) for name in SIGNATURE_META},
        "run_id": run_id if run_id is not None else key.get("run_id"),
        "date": date,
    }


def signature_row_from_key(key: dict, run_id: str | None = None, date: str | None = None) -> dict:
    """The SIGNATURES row of an article's key row (write it for winners)."""
    return {
        **signature_meta(key, run_id, date),
        "sketch": uint32s(key["sketch"]).tolist(),
        "minhash": uint32s(key["minhash"]).tolist(),
        "band_keys": signature_band_keys(key),
    }


def signature_row(article: dict, run_id: str | None = None, date: str | None = None) -> dict:
    """The SIGNATURES row of an article with its text.  Only compact data, no text."""
    return signature_row_from_key(article_key(article), run_id, date)


def record_from_signature(row: dict, existing: bool = True) -> Record | None:
    """A signature (a stored SIGNATURES row, existing=True, or a new article's key
    row) as a Record, or None when it is unusable for near-dup matching (other
    signature version, too short)."""
    if row.get("signature_version") != SIGNATURE_VERSION:
        return None
    count = int(row.get("shingle_count") or 0)
    if count < MIN_SHINGLES:
        return None
    return Record(
        article_id=row["article_id"],
        existing=existing,
        published=_timestamp(row.get("published_at")),
        text_length=int(row.get("text_length") or 0),
        count=count,
        level=int(row.get("sketch_level") or 0),
        hashes=uint32s(row.get("sketch")).astype("<u4").tobytes(),
    )


def signature_band_keys(row: dict, bands: int = BANDS) -> list:
    """Band keys of a stored signature: the stored ones when they were made
    with these bands, else recomputed from the stored minhash."""
    if row.get("signature_version") != SIGNATURE_VERSION:
        return []
    if int(row.get("shingle_count") or 0) < MIN_SHINGLES:
        return []
    keys = row.get("band_keys")
    if isinstance(keys, (bytes, bytearray)):  # a compact stored signature
        keys = np.frombuffer(keys, dtype="<i8").tolist()
    if bands == BANDS and keys is not None and len(keys) == BANDS:
        return list(keys)
    mh = uint32s(row.get("minhash"))
    if len(mh) == 0 or len(mh) % bands:
        return []
    return band_keys(mh, bands)


# ---------------------------------------------------------------------------
# Candidates from band buckets, connected components


def bucket_pairs(members, max_bucket: int = MAX_BUCKET, window: int = BUCKET_WINDOW):
    """Candidate pairs (id_a, id_b), id_a < id_b, from one band bucket of
    (article_id, existing) members.  Pairs of two stored signatures are
    skipped (they were settled by earlier runs).  Buckets above max_bucket
    (hundreds of syndicated copies, or degenerate texts) compare each member
    with its next `window` members only, so work stays linear; components
    still connect through the chain."""
    members = sorted(set((str(i), bool(e)) for i, e in members))
    if len(members) < 2 or all(e for _, e in members):
        return
    w = len(members) if len(members) <= max_bucket else window + 1
    for i, (a, ea) in enumerate(members):
        for b, eb in members[i + 1 : i + w]:
            if not (ea and eb):
                yield (a, b)


class UnionFind:
    def __init__(self):
        self.parent = {}

    def find(self, x):
        parent = self.parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:  # path compression
            nxt = parent.get(x, x)
            parent[x] = root
            x = nxt
        return root

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # deterministic: the smaller id becomes the root
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra
        self.parent.setdefault(ra, ra)
        return ra


def connected_components(edges) -> list:
    """Components (sorted lists) of an undirected graph given as pairs."""
    uf = UnionFind()
    for a, b in edges:
        uf.union(a, b)
    groups: dict = {}
    for node in list(uf.parent):
        groups.setdefault(uf.find(node), []).append(node)
    return sorted(sorted(g) for g in groups.values())


def resolve_winners(edges) -> dict:
    """{loser article_id: winner article_id} for the *new* articles of each
    component of verified edges (pairs of metas); stored copies are never
    losers (their rows are already written)."""
    metas = {}
    pairs = []
    for ma, mb in edges:
        metas[ma[0]] = ma
        metas[mb[0]] = mb
        pairs.append((ma[0], mb[0]))
    out = {}
    for comp in connected_components(pairs):
        winner = choose_winner(metas[i] for i in comp)[0]
        for i in comp:
            if i != winner and not metas[i][1]:
                out[i] = winner
    return out


# ---------------------------------------------------------------------------
# The pure (single-process) path: same functions, in-memory grouping.


def find_near_duplicates(
    articles,
    threshold: float = DEFAULT_THRESHOLD,
    existing=None,
    min_jaccard: float = DEFAULT_MIN_JACCARD,
    bands: int = BANDS,
    stats: dict | None = None,
) -> dict:
    """{loser article_id: winner article_id} for a list of article dicts
    (and optional stored SIGNATURES rows).  Reference implementation of what
    decide.Deduplicate does; banding uses numpy sorting, so memory is linear."""
    records, keys = [], []
    rows = [(article_key(art), False) for art in articles] + [(row, True) for row in existing or ()]
    for row, is_existing in rows:
        rec = record_from_signature(row, is_existing)
        k = signature_band_keys(row, bands)
        if rec is None or not k:
            continue
        records.append(rec)
        keys.append(k)
    if not records:
        return {}
    key_matrix = np.asarray(keys, dtype=np.int64)  # n x bands
    existing_flags = np.array([r.existing for r in records])
    ids = [r.article_id for r in records]
    candidates = set()
    for j in range(key_matrix.shape[1]):
        col = key_matrix[:, j]
        order = np.argsort(col, kind="stable")
        sorted_col = col[order]
        # runs of equal keys
        starts = np.flatnonzero(np.r_[True, sorted_col[1:] != sorted_col[:-1]])
        ends = np.r_[starts[1:], len(sorted_col)]
        multi = np.flatnonzero(ends - starts > 1)
        for s, e in zip(starts[multi], ends[multi]):
            idx = order[s:e]
            if existing_flags[idx].all():
                continue
            for a, b in bucket_pairs((ids[i], existing_flags[i]) for i in idx):
                candidates.add((a, b))
    by_id = {r.article_id: r for r in records}
    edges = []
    for a, b in sorted(candidates):
        ra, rb = by_id[a], by_id[b]
        if verify(ra, rb, threshold, min_jaccard):
            edges.append((ra.meta, rb.meta))
    if stats is not None:
        stats.update(records=len(records), candidates=len(candidates), edges=len(edges))
    return resolve_winners(edges)


def mark(articles, decisions: dict) -> list:
    """Copies of the articles with duplicate_of / duplicate_reason set."""
    out = []
    for art in articles:
        winner = decisions.get(art["article_id"])
        if winner is not None:
            art = dict(art, duplicate_of=winner, duplicate_reason="near")
        out.append(art)
    return out


# ---------------------------------------------------------------------------
# Band buckets from packed blocks. The Beam path shuffles these instead of one
# (band key, member) element per band: 42 an article, each a few Python objects held
# by the local runner's in-memory shuffle (about 10 KB an article, its largest cost).

BAND_SHARDS = 16  # band keys are grouped in this many shards of packed entries
BLOCK_ENTRIES = 1 << 20  # a worker packs and emits its band entries at most this many at a time


def sorted_unique(values) -> np.ndarray:
    """The sorted unique values of a 1-d array, by sorting. numpy 2.3+ finds the unique
    integers of np.unique with a hash table, 4-40 times slower than a sort when most
    are distinct (4.2 million band keys: 3.1 s against 0.07 s here; numpy issue 28375)."""
    ordered = np.sort(np.asarray(values))
    if len(ordered) < 2:
        return ordered
    first = np.empty(len(ordered), dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


def in_sorted(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A mask of the values found in sorted_values (both numpy arrays of one dtype)."""
    if not len(sorted_values) or not len(values):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_values, values), len(sorted_values) - 1)
    return sorted_values[at] == values


@dataclass(frozen=True)
class KeyFilter:
    """A Bloom filter of int64 keys, built and queried with numpy (a pure-Python filter
    would test the tens of millions of stored band keys a chunk reads one at a time).

    Every reader of a chunk's band keys holds them (stored.NewKeys): 113,000 new articles
    have 4.7 million, 38 MB sorted, each reader a copy; the filter takes 10 to 20 bits a
    key (8 MB there). `contains` never misses a key it was built from; another key passes
    with a chance of 0.8 % at 10 bits a key and 0.13 % at 14, which only lets a stored row or band
    entry through to the exact steps after it (a band bucket without a new article makes
    no pair)."""

    bits: np.ndarray  # uint8, little-endian bit order (np.packbits)
    log2_size: int  # the filter has 2 ** log2_size bits

    HASHES = 7
    BITS_PER_KEY = 10  # at least; the size is rounded up to a power of two

    @classmethod
    def of(cls, keys) -> KeyFilter:
        keys = np.asarray(keys, dtype=np.int64)
        log2_size = max(10, math.ceil(math.log2(max(1, len(keys)) * cls.BITS_PER_KEY)))
        bits = np.zeros(1 << log2_size, dtype=bool)
        for positions in cls._positions(keys, log2_size):
            bits[positions] = True
        return cls(np.packbits(bits, bitorder="little"), log2_size)

    @staticmethod
    def _positions(keys: np.ndarray, log2_size: int):
        """The HASHES bit positions of each key: multiply-shift hashing (band keys are
        splitmix outputs already, so every bit of them is mixed)."""
        values = np.asarray(keys, dtype=np.int64).view(np.uint64)
        shift = np.uint64(64 - log2_size)
        for multiplier in _filter_multipliers():
            yield ((values * multiplier) >> shift).astype(np.int64)

    def contains(self, keys) -> np.ndarray:
        """A mask of the keys that may be in the filter (every key it was built from is)."""
        keys = np.asarray(keys, dtype=np.int64)
        found = np.ones(len(keys), dtype=bool)
        for positions in self._positions(keys, self.log2_size):
            found &= ((self.bits[positions >> 3] >> (positions & 7).astype(np.uint8)) & 1).astype(bool)
        return found


@lru_cache(maxsize=1)
def _filter_multipliers() -> np.ndarray:
    return np.array([_const64(f"key-filter{i}") | 1 for i in range(KeyFilter.HASHES)], dtype=np.uint64)


def pack_ids(ids: list) -> tuple[np.ndarray, bool]:
    """(array, hex_ids) of article ids: the 8 bytes of each when all are 16 hex digits
    (make_article_id), else their utf-8."""
    hex_ids = all(ARTICLE_ID.match(i) for i in ids)
    if hex_ids:
        return np.frombuffer(bytes.fromhex("".join(ids)), dtype="S8"), True
    return np.array([i.encode("utf-8") for i in ids], dtype=bytes), False


def id_of(raw, hex_ids: bool) -> str:
    """The article id of one packed entry (pack_ids)."""
    raw = bytes(raw)  # numpy drops trailing zero bytes: an 8-byte id gets them back
    return raw.ljust(8, b"\0").hex() if hex_ids else raw.decode("utf-8")


@dataclass(frozen=True)
class BandBlock:
    """Band entries of one shard: int64 keys, each with its member (article id, stored)."""

    keys: np.ndarray  # int64
    ids: np.ndarray  # S8 (the bytes of hex ids) or S<n> (utf-8 ids)
    hex_ids: bool
    existing: np.ndarray  # bool

    def member(self, i: int) -> tuple[str, bool]:
        return id_of(self.ids[i], self.hex_ids), bool(self.existing[i])

    @staticmethod
    def entries(data: bytes) -> int:
        """The number of band entries in a packed block, read from its header."""
        return int(np.frombuffer(data, dtype="<i8", count=1)[0])

    def pack(self) -> bytes:
        header = np.array([len(self.keys), self.ids.dtype.itemsize, int(self.hex_ids)], dtype="<i8")
        return b"".join(
            (header.tobytes(), self.keys.astype("<i8").tobytes(), self.ids.tobytes(), self.existing.tobytes())
        )

    @classmethod
    def unpack(cls, data: bytes) -> BandBlock:
        n, width, hex_ids = np.frombuffer(data, dtype="<i8", count=3).tolist()
        offset = 24
        keys = np.frombuffer(data, dtype="<i8", count=n, offset=offset)
        offset += 8 * n
        ids = np.frombuffer(data, dtype=f"S{width}", count=n, offset=offset)
        offset += width * n
        existing = np.frombuffer(data, dtype=bool, count=n, offset=offset)
        return cls(keys, ids, bool(hex_ids), existing)


def band_blocks(members, shards: int = BAND_SHARDS) -> list:
    """(shard, packed BandBlock) for members [(article_id, stored, band keys)], every
    band key of a member in the shard its key falls in."""
    members = [m for m in members if len(m[2])]
    if not members:
        return []
    id_array, hex_ids = pack_ids([article_id for article_id, _, _ in members])
    per_member = np.array([len(keys) for _, _, keys in members])
    keys = np.concatenate([np.asarray(keys, dtype=np.int64) for _, _, keys in members])
    member = np.repeat(np.arange(len(members)), per_member)
    existing = np.array([bool(stored) for _, stored, _ in members])
    shard_of = keys.view(np.uint64) % np.uint64(shards)
    out = []
    for shard in sorted_unique(shard_of).tolist():
        pick = shard_of == shard
        block = BandBlock(keys[pick], id_array[member[pick]], hex_ids, existing[member[pick]])
        out.append((shard, block.pack()))
    return out


def shard_candidate_pairs(packed_blocks, max_bucket: int = MAX_BUCKET, window: int = BUCKET_WINDOW):
    """(candidate pairs, stored ids in them, size of the largest bucket with a new member)
    of one shard's packed blocks: the members sharing a band key, paired as
    `bucket_pairs` does. Numpy sorts the keys; only members of buckets of two or more
    with a new member become Python objects. Buckets of stored members only (their
    pairs were settled by earlier runs) are passed over and not counted."""
    blocks = [BandBlock.unpack(data) for data in packed_blocks]
    blocks = [block for block in blocks if len(block.keys)]
    if not blocks:
        return [], set(), 0
    keys = np.concatenate([block.keys for block in blocks])
    block_of = np.concatenate([np.full(len(block.keys), i, dtype=np.int32) for i, block in enumerate(blocks)])
    index_in = np.concatenate([np.arange(len(block.keys), dtype=np.int64) for block in blocks])
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    sizes = np.diff(np.r_[starts, len(sorted_keys)])
    is_new = ~np.concatenate([block.existing for block in blocks])[order]
    new_members = np.add.reduceat(is_new.astype(np.int64), starts)
    starts, sizes = starts[new_members > 0], sizes[new_members > 0]
    if not len(sizes):
        return [], set(), 0
    pairs, stored = [], set()
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist()):
        picked = order[start : start + size]
        members = [blocks[block_of[j]].member(int(index_in[j])) for j in picked]
        found = list(bucket_pairs(members, max_bucket, window))
        if found and any(existing for _, existing in members):
            in_pairs = {article_id for pair in found for article_id in pair}
            stored |= {article_id for article_id, existing in members if existing and article_id in in_pairs}
        pairs.extend(found)
    return pairs, stored, int(sizes.max())


# ---------------------------------------------------------------------------
# Beam

try:
    import apache_beam as beam
    from apache_beam.metrics import Metrics
    from apache_beam.transforms.window import GlobalWindows

    from transforms.metrics import NAMESPACE
except ImportError:  # pure functions stay usable without Beam
    beam = None  # type: ignore[assignment]  # the optional-import idiom: only the Beam half needs it


def records_of(row: dict, existing: bool):
    """The Record of a signature row, when it has one (record_from_signature)."""
    rec = record_from_signature(row, existing)
    if rec is not None:
        yield rec


def mark_loser(row: dict, winners: dict) -> dict:
    """The key row, pointing at its winner when near-duplicate matching made it a loser."""
    winner = winners.get(row["article_id"])
    return row if winner is None else dict(row, duplicate_of=winner, duplicate_reason="near")


if beam is not None:

    class PackBandEntriesFn(beam.DoFn):
        """Signature rows -> (shard, packed BandBlock) of their band keys, per bundle (and
        every BLOCK_ENTRIES entries, so a worker's buffer stays bounded). With the side
        input `wanted_keys` (a KeyFilter of the new articles' band keys), only the keys it
        lets pass: a stored row's entry under a key no new article has would only make a
        bucket of stored rows, never a pair."""

        def __init__(self, bands: int, existing: bool, shards: int = BAND_SHARDS, block_entries: int = BLOCK_ENTRIES):
            self.bands, self.existing, self.shards, self.block_entries = bands, existing, shards, block_entries

        def setup(self):
            # Compared with ShardCandidatesFn's `band_entries_paired` before a run commits
            # (pipeline/integrity.py): a runner that loses a block must not go unnoticed.
            self.packed = Metrics.counter(NAMESPACE, "band_entries_packed")

        def start_bundle(self):
            self.members, self.entries = [], 0

        def process(self, row, wanted_keys=None):
            keys = np.asarray(signature_band_keys(row, self.bands), dtype=np.int64)
            if wanted_keys is not None:
                keys = keys[wanted_keys.contains(keys)]
            if len(keys):
                self.members.append((row["article_id"], self.existing, keys))
                self.entries += len(keys)
            if self.entries >= self.block_entries:
                yield from self.flush()

        def flush(self):
            blocks = band_blocks(self.members, self.shards)
            self.packed.inc(self.entries)
            self.members, self.entries = [], 0
            return blocks

        def finish_bundle(self):
            for block in self.flush():
                yield GlobalWindows.windowed_value(block)
