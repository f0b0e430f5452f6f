"""The output tables: names, columns, types and their documentation.

Everything that writes, reads or documents a table (the Parquet writer, the
DuckDB views, the README's table docs, the cross-run key reader) derives from
TABLES, so a column is added here and nowhere else.
"""

from dataclasses import dataclass

import pyarrow as pa

from transforms.nlp.labels import mapping_doc

PARTITION_COLUMN = "date"
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def column_names(self) -> list:
        return [c.name for c in self.columns]


def _partition(doc):
    return Column(PARTITION_COLUMN, pa.string(), doc, nullable=False)


ARTICLES = Table(
    "articles",
    "One row per ingested article, duplicates included (they point at their winner).",
    (
        Column(
            "article_id",
            pa.string(),
            (
                "Stable id: hash of the canonical URL (or input name) and the content hash; the same article gets the "
                "same id on every run."
            ),
            False,
        ),
        Column(
            "url",
            pa.string(),
            "URL as given by the input (feed link, page URL, JSON `url`); null for plain files without one.",
        ),
        Column("canonical_url", pa.string(), "Normalised URL used for deduplication (see README, Deduplication)."),
        Column("source", pa.string(), "Publisher or feed title, else the host of the URL, else the input file name."),
        Column("title", pa.string(), "Headline."),
        Column("text", pa.string(), "Article body as plain text; entity and quote offsets point into it."),
        Column("authors", pa.list_(pa.string()), "Bylines, as a list."),
        Column(
            "language",
            pa.string(),
            (
                "ISO 639-1 language code: the input's own (normalised: `en-US`, `French` -> `en`, `fr`), else detected "
                "from title and text (py3langid); null when the text is too short or the detector unsure (README, "
                "Languages)."
            ),
        ),
        Column(
            "published_at",
            TIMESTAMP,
            "Publication time in UTC; the ingest time when the input had none (see `date_inferred`).",
        ),
        Column(
            "date_inferred",
            pa.bool_(),
            "True when the input gave no usable publication date and `published_at` is the ingest time.",
            False,
        ),
        Column("ingested_at", TIMESTAMP, "When this run parsed the article.", False),
        Column(
            "content_hash",
            pa.string(),
            "SHA-256 (hex, 32 chars) of the normalised text: NFKC, case-folded, quote marks and whitespace folded.",
            False,
        ),
        Column("duplicate_of", pa.string(), "`article_id` of the copy that won, or null when this row is the winner."),
        Column(
            "duplicate_reason",
            pa.string(),
            (
                "Why it is a duplicate: `content` (same hash), `url` (same canonical URL), `near` (near-duplicate "
                "text); null for winners."
            ),
        ),
        Column(
            "revision_of",
            pa.string(),
            (
                "`article_id` of the earlier version when this is a substantially changed revision at the same "
                "canonical URL."
            ),
        ),
        Column(
            "text_source",
            pa.string(),
            "Where the text came from: `file`, `feed` (entry content or summary) or `page` (fetched article page).",
            False,
        ),
        Column(
            "input",
            pa.string(),
            "The path or URL the article was read from, with `#N` for the N-th record or entry in it.",
            False,
        ),
        Column("word_count", pa.int32(), "Words in `text`.", False),
        Column("run_id", pa.string(), "Id of the run that wrote the row.", False),
        _partition("Partition: `published_at` as YYYY-MM-DD (UTC)."),
    ),
)

ENTITIES = Table(
    "entities",
    "Named entities of winning (non-duplicate) articles, one row per mention.",
    (
        Column("article_id", pa.string(), "The article.", False),
        Column("text", pa.string(), "The mention as written.", False),
        Column(
            "label",
            pa.string(),
            (
                "Entity type in the scheme of the language's spaCy model (English: OntoNotes PERSON, ORG, GPE, NORP, "
                "...; French and other WikiNER models: PER, LOC, ORG, MISC), majority vote over the article's mentions "
                "of one entity."
            ),
            False,
        ),
        Column(
            "label_common",
            pa.string(),
            "`label` in the set every language shares (transforms/nlp/labels.py): "
            + mapping_doc()
            + "; null for kinds only some models tag (DATE, MONEY, CARDINAL, ...).",
        ),
        Column("start", pa.int32(), "Character offset of the mention in `articles.text`.", False),
        Column("end", pa.int32(), "Character offset just past the mention.", False),
        Column("canonical", pa.string(), 'The article\'s fullest name for the entity ("Biden" -> "Joe Biden").', False),
        Column(
            "entity_key",
            pa.string(),
            (
                "One key per real-world entity across articles: common label and accent- and case-folded canonical "
                "name (`person:joe biden`); never changes meaning. A one-word person key joins its full name through "
                "the view `entity_aliases` (README, Entity keys); null for kinds that are not names."
            ),
        ),
        Column("run_id", pa.string(), "Id of the run that wrote the row.", False),
        _partition("Partition: the article's date."),
    ),
)

QUOTES = Table(
    "quotes",
    "Quotations of speech in winning articles, with their speakers.",
    (
        Column("article_id", pa.string(), "The article.", False),
        Column("quote_id", pa.string(), "Stable id: article id and quote start offset.", False),
        Column("text", pa.string(), "The quoted words, without the quotation marks.", False),
        Column("start", pa.int32(), "Character offset of the quote in `articles.text`.", False),
        Column("end", pa.int32(), "Character offset just past the quote.", False),
        Column(
            "speaker",
            pa.string(),
            (
                "Who said it, resolved to the article's canonical name (joins to `entities.canonical`); an unnamed "
                'speaker is its phrase in lower case but for proper nouns ("the report", "police"); null when unknown.'
            ),
        ),
        Column(
            "speaker_mention",
            pa.string(),
            "The words nearest the quote that name the speaker, as written (a name, a noun phrase or a pronoun).",
        ),
        Column("speaker_start", pa.int32(), "Character offset of `speaker_mention` in the text."),
        Column("speaker_end", pa.int32(), "Character offset just past `speaker_mention`."),
        Column(
            "speaker_label",
            pa.string(),
            (
                "Entity label of the speaker (PERSON, ORG, NORP, ...); `GROUP` for an unnamed group of people "
                '("police", "officials", "residents"); null for other unnamed speakers.'
            ),
        ),
        Column(
            "speaker_key", pa.string(), "`entities.entity_key` of the speaker when it is a named entity, else null."
        ),
        Column("cue", pa.string(), 'The attribution verb or phrase ("said", "told reporters", "according to").'),
        Column(
            "kind",
            pa.string(),
            "`direct` (a sentence or more) or `partial` (a fragment inside the writer's sentence).",
            False,
        ),
        Column("run_id", pa.string(), "Id of the run that wrote the row.", False),
        _partition("Partition: the article's date."),
    ),
)

REJECTS = Table(
    "rejects",
    "Inputs (or parts of inputs) that did not become articles, with the reason.",
    (
        Column(
            "reject_id",
            pa.string(),
            "Stable id of (input, stage, error): the same bad input is recorded once across runs.",
            False,
        ),
        Column("input", pa.string(), "Path, URL or entry (`path#N`) that was rejected.", False),
        Column("stage", pa.string(), "Where it failed: `read`, `parse`, `validate`, `fetch`, `nlp`.", False),
        Column(
            "error",
            pa.string(),
            (
                "Short machine-friendly reason (`unreadable`, `too_large`, `undecodable`, `empty_text`, `binary`, "
                "`bad_json`, `too_deep`, `bad_record`, `bad_feed`, `unsafe_xml`, `entity_expansion`, `text_too_long`, "
                "`bad_url`, `deadline`, `nlp_failed`, ...)."
            ),
            False,
        ),
        Column("detail", pa.string(), "Human-readable detail (exception message, sizes)."),
        Column("run_id", pa.string(), "Id of the run that recorded it.", False),
        Column("rejected_at", TIMESTAMP, "When it was rejected.", False),
        _partition("Partition: the day it was rejected (UTC)."),
    ),
)

TABLES = {t.name: t for t in (ARTICLES, ENTITIES, QUOTES, REJECTS)}

FEED_STATE = Table(
    "feed_state",
    "One row per feed fetch: the HTTP validators the next run sends back (conditional GET) and what happened.",
    (
        Column(
            "url",
            pa.string(),
            "The feed URL as the user named it (the key; a run reads the newest row per URL).",
            False,
        ),
        Column("final_url", pa.string(), "The URL after redirects; null when no response came back."),
        Column(
            "etag",
            pa.string(),
            "Last `ETag` the server sent (kept from earlier runs when this fetch failed); sent as `If-None-Match`.",
        ),
        Column(
            "last_modified", pa.string(), "Last `Last-Modified` header (kept on failure); sent as `If-Modified-Since`."
        ),
        Column(
            "body_hash", pa.string(), "SHA-256 (hex) of the last body received; an identical body is not parsed again."
        ),
        Column(
            "last_status",
            pa.int32(),
            "HTTP status of this fetch (304 = not modified); null when no response came back.",
        ),
        Column("last_fetched_at", TIMESTAMP, "When this fetch finished.", False),
        Column(
            "outcome",
            pa.string(),
            "`new` (content to parse), `not_modified` (304 or same body hash) or `failed`.",
            False,
        ),
        Column(
            "error",
            pa.string(),
            (
                "Fetch error code when `outcome` is `failed` (`timeout`, `deadline`, `blocked_host`, `bad_url`, "
                "`http_error`, `too_large`, ...)."
            ),
        ),
        Column("run_id", pa.string(), "Id of the run that wrote the row.", False),
        _partition("Partition: `last_fetched_at` as YYYY-MM-DD (UTC)."),
    ),
)

TABLES[FEED_STATE.name] = FEED_STATE

SIGNATURES = Table(
    "signatures",
    (
        "Compact near-duplicate signatures of winning articles (no text), read by later runs to find near-duplicates "
        "of stored articles (see README, Deduplication)."
    ),
    (
        Column("article_id", pa.string(), "The article (a winner: `articles.duplicate_of` is null).", False),
        Column("canonical_url", pa.string(), "As `articles.canonical_url`."),
        Column("content_hash", pa.string(), "As `articles.content_hash`."),
        Column("published_at", TIMESTAMP, "As `articles.published_at`; used to choose the winner."),
        Column("text_length", pa.int32(), "Characters in `articles.text`; used to choose the winner.", False),
        Column("word_count", pa.int32(), "As `articles.word_count`."),
        Column(
            "signature_version",
            pa.int32(),
            "Version of the normalisation, shingling and hashing scheme; rows of another version are ignored.",
            False,
        ),
        Column(
            "shingle_count", pa.int32(), "Number of distinct 5-word shingles of the boilerplate-stripped text.", False
        ),
        Column(
            "sketch_level",
            pa.int8(),
            "Sampling level L of `sketch`: it holds every shingle hash below 2^32 >> L (0: all of them).",
            False,
        ),
        Column(
            "sketch",
            pa.list_(pa.uint32()),
            (
                "Sorted 32-bit shingle hashes (a consistent sample of at most 512), for exact or estimated Jaccard and "
                "containment."
            ),
            False,
        ),
        Column(
            "minhash",
            pa.list_(pa.uint32()),
            "The 126-value MinHash signature (to recompute band keys if the banding changes).",
            False,
        ),
        Column(
            "band_keys",
            pa.list_(pa.int64()),
            "The 42 LSH band keys (3 minhash rows each); empty for texts too short for near-duplicate matching.",
            False,
        ),
        Column("run_id", pa.string(), "Id of the run that wrote the row.", False),
        _partition("Partition: the article's date."),
    ),
)

TABLES[SIGNATURES.name] = SIGNATURES

# Not a table: what the first pass of a batch run stages per article for deduplication
# (transforms/dedup/pending.py), in files under the run's staging folder that no commit
# publishes. The SIGNATURES columns, with the hash lists as little-endian bytes and
# band keys left out (they travel in packed blocks), plus the article's input.
PENDING_SIGNATURE_SCHEMA = pa.schema(
    [
        pa.field("input", pa.string()),  # none for a stored signature staged for verification
        *(
            pa.field(
                c.name, pa.binary() if c.name in ("sketch", "minhash") else c.type, nullable=c.name != "article_id"
            )
            for c in SIGNATURES.columns
            if c.name != "band_keys"
        ),
    ]
)

SITEMAP_PAGES = Table(
    "sitemap_pages",
    (
        "One row per sitemap entry whose page a run fetched: a later run fetches that page again only when the entry's "
        "`<lastmod>` has moved past the stored one."
    ),
    (
        Column("url", pa.string(), "The entry's `<loc>` (the key).", False),
        Column("sitemap", pa.string(), "The sitemap URL (or file) that listed it."),
        Column(
            "lastmod", TIMESTAMP, "The entry's `<lastmod>` in UTC when its page was fetched; null when it had none."
        ),
        Column("fetched_at", TIMESTAMP, "When the run that fetched the page started.", False),
        Column("run_id", pa.string(), "Id of the run that wrote the row.", False),
        _partition("Partition: `fetched_at` as YYYY-MM-DD (UTC)."),
    ),
)

TABLES[SITEMAP_PAGES.name] = SITEMAP_PAGES
