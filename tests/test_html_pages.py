"""The one HTML path (transforms/ingest/html.py): charsets as browsers find them, the
same article from a file and from a fetched page, titles without the site name.

Every page here is written by the test, in the charset under test, from Unicode text
that the extraction must give back exactly."""

import codecs
import random
from datetime import datetime, timezone

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from conftest import beam_pipeline
from feed_server import Response, feed_server  # noqa: F401 - pytest fixture

from pipeline.cli import main
from schemas.duckdb_views import open_output
from transforms.ingest.fetch import enrich_with_page
from transforms.ingest.html import (
    charset_from_content_type,
    choose_charset,
    codec_for_label,
    drop_leading_title,
    extract_html,
    strip_site_name,
)
from transforms.ingest.http_fetch import FetchConfig
from transforms.ingest.parse import Parse, parse_raw
from transforms.metrics import counter_totals
from transforms.rejects import RejectError, is_reject

LOCAL = FetchConfig(allow_private_hosts=True, connect_timeout=2, read_timeout=2, per_host_delay=0, max_attempts=1)
NOW = datetime(2026, 3, 5, tzinfo=timezone.utc)

# charset -> (headline, paragraphs): one short original story per legacy charset.
STORIES = {
    "windows-1251": (
        "Городской совет одобрил новый мост через реку",
        [
            "Городской совет во вторник одобрил строительство нового моста через реку, которое займёт около трёх лет.",
            "«Мост соединит две половины города», — сказала мэр журналистам после голосования.",
            "Жители северного берега давно жаловались на пробки и долгие объезды по старой дороге.",
        ],
    ),
    "shift_jis": (
        "市議会が新しい橋の建設を承認",
        [
            "市議会は火曜日、川に架かる新しい橋の建設を承認した。工事には約三年かかる見通しだ。",
            "市長は採決の後、記者団に「橋は町の二つの地区を結ぶ」と語った。",
            "北岸の住民は長年、渋滞と古い道路での遠回りに不満を訴えていた。",
        ],
    ),
    "gb2312": (
        "市议会批准修建新桥",
        [
            "市议会周二以多数票批准在河上修建一座新桥，工程预计需要大约三年时间，总投资约为十二亿元。",
            "市长在投票后对记者说：“这座桥将连接城市的南北两个部分，让居民上班的路程缩短一半。”",
            "北岸居民长期以来一直抱怨交通拥堵和绕行旧路的问题，许多人每天要在路上花费两个多小时。",
            "反对者则担心施工期间的噪音和对河边老市场的影响，他们要求市政府公布完整的环境评估报告。",
        ],
    ),
    "iso-8859-2": (
        "Rada miasta zatwierdziła budowę nowego mostu",
        [
            "Rada miasta we wtorek zatwierdziła budowę nowego mostu na rzece, która potrwa około trzech lat.",
            "Most połączy dwie części miasta - powiedziała burmistrz dziennikarzom po głosowaniu.",
            "Mieszkańcy północnego brzegu od dawna skarżyli się na korki i długie objazdy starą drogą.",
        ],
    ),
}
AUTHOR, PUBLISHED = "Ana Ruiz", "2026-03-02T10:00:00Z"


def page_html(title: str, paragraphs: list[str], head: str = "", html_title: str | None = None) -> str:
    """A news page: navigation, the article (headline, paragraphs), a footer."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head>{head}<title>{html_title or title}</title>"
        f'<meta name="author" content="{AUTHOR}">'
        f'<meta property="article:published_time" content="{PUBLISHED}"></head><body>'
        '<header><nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>'
        '<li><a href="/sport">Sport</a></li></ul></nav></header>'
        f"<main><article><h1>{title}</h1>{body}</article></main>"
        "<footer><p>Copyright 2026 Example News</p></footer></body></html>"
    )


def declarations(charset: str) -> dict:
    return {
        "none": "",
        "meta": f'<meta charset="{charset}">',
        "http-equiv": f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">',
    }


def raw(name: str, data: bytes) -> dict:
    return {"input": f"/in/{name}", "name": name, "data": data, "fetched_at": NOW, "format": None}


def assert_is_story(page: dict, charset: str) -> None:
    title, paragraphs = STORIES[charset]
    assert page["title"] == title
    assert page["text"] == "\n\n".join(paragraphs)
    assert page["authors"] == [AUTHOR]
    assert page["published_at"] == datetime(2026, 3, 2, tzinfo=timezone.utc)


# --- charsets ----------------------------------------------------------------------


@pytest.mark.parametrize("declared", ["none", "meta", "http-equiv"])
@pytest.mark.parametrize("charset", sorted(STORIES))
def test_legacy_charset_files_come_out_as_the_original_text(charset, declared):
    title, paragraphs = STORIES[charset]
    data = page_html(title, paragraphs, declarations(charset)[declared]).encode(charset)
    assert_is_story(extract_html(data), charset)
    (article,) = parse_raw(raw(f"story.{charset}.html", data))
    assert article["title"] == title and article["text"] == "\n\n".join(paragraphs)


@pytest.mark.parametrize("charset", sorted(STORIES))
def test_http_header_charset_decides_over_a_wrong_meta(charset):
    title, paragraphs = STORIES[charset]
    data = page_html(title, paragraphs, '<meta charset="utf-8">').encode(charset)
    page = extract_html(data, "https://news.example/a", charset_from_content_type(f"text/html; charset={charset}"))
    assert_is_story(page, charset)
    assert page["charset_source"] == "http"


def test_charset_sources_in_a_browsers_order():
    html = page_html(*STORIES["windows-1251"], '<meta charset="windows-1251">')
    assert choose_charset(codecs.BOM_UTF8 + html.encode("utf-8"), "iso-8859-2")[:2] == ("utf-8", "bom")
    assert choose_charset(html.encode("cp1251"), "koi8-r")[:2] == ("koi8-r", "http")
    assert choose_charset(html.encode("cp1251"))[:2] == ("cp1251", "meta")
    assert choose_charset(html.replace('<meta charset="windows-1251">', "").encode("cp1251"))[:2] == (
        "cp1251",
        "detected",
    )
    assert choose_charset(b"<html><body><p>plain ascii</p></body></html>")[:2] == ("utf-8", "detected")


@pytest.mark.parametrize(
    "bom, codec", [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")]
)
def test_byte_order_mark_wins_over_a_wrong_declaration(bom, codec):
    title, paragraphs = STORIES["windows-1251"]
    data = bom + page_html(title, paragraphs, '<meta charset="windows-1251">').encode(codec)
    assert_is_story(extract_html(data, None, "iso-8859-2"), "windows-1251")
    (article,) = parse_raw(raw("bom.html", data))
    assert article["text"] == "\n\n".join(paragraphs)


def test_labels_are_read_as_browsers_read_them():
    assert codec_for_label(" Windows-1251 ") == "cp1251"
    assert codec_for_label("iso-8859-1") == codec_for_label("us-ascii") == "cp1252"
    assert codec_for_label("gb2312") == codec_for_label("GBK") == "gb18030"
    assert codec_for_label("shift_jis") == codec_for_label("x-sjis") == "cp932"
    assert codec_for_label("x-cp1251") == "cp1251"
    for not_a_page_charset in ("rot13", "base64", "utf-7", "no-such-charset", ""):
        assert codec_for_label(not_a_page_charset) is None
    assert charset_from_content_type('text/html; charset="Shift_JIS"') == "Shift_JIS"
    assert charset_from_content_type("text/html") is None and charset_from_content_type(None) is None


def test_a_page_labelled_latin1_is_windows_1252():
    # 0x93/0x94 are curly quotes in windows-1252 and C1 controls in ISO-8859-1.
    paragraphs = [
        "The mayor said \x93the bridge links two halves of the city\x94 on Monday evening.",
        "Residents of the north bank have long complained about traffic on the old road.",
    ]
    data = page_html("Bridge approved after long debate", paragraphs, '<meta charset="iso-8859-1">').encode("latin-1")
    text = extract_html(data)["text"]
    assert "\u201cthe bridge links two halves of the city\u201d" in text


def test_unknown_label_is_ignored_detected_and_counted():
    title, paragraphs = STORIES["windows-1251"]
    data = page_html(title, paragraphs, '<meta charset="x-no-such-charset">').encode("cp1251")
    assert choose_charset(data) == ("cp1251", "detected", "x-no-such-charset")
    assert choose_charset(data, "also-unknown") == ("cp1251", "detected", "also-unknown")
    assert_is_story(extract_html(data), "windows-1251")

    # In a pipeline the article is kept and the unknown label is a visible counter.
    pipeline = beam_pipeline()
    articles, rejects = (
        pipeline
        | beam.Create(
            [raw("unknown-label.html", data), raw("known.html", data.replace(b"x-no-such-charset", b"windows-1251"))]
        )
        | Parse()
    )
    assert_that(articles | beam.Map(lambda article: article["text"]), equal_to(["\n\n".join(paragraphs)] * 2))
    assert_that(rejects, equal_to([]), label="NoRejects")
    result = pipeline.run()
    result.wait_until_finish()
    assert counter_totals(result).get("charset_label_unknown") == 1


def test_bytes_that_are_no_text_are_a_reject_with_a_reason():
    noise = random.Random(7).randbytes(3000).replace(b"\0", b"\1")  # no NUL: not "binary" at once
    with pytest.raises(RejectError) as raised:
        extract_html(b"<html><body><p>" + noise + b"</p></body></html>")
    assert raised.value.error == "undecodable"
    (reject,) = parse_raw(raw("noise.html", b"<html><body><p>" + noise + b"</p></body></html>"))
    assert is_reject(reject) and (reject["stage"], reject["error"]) == ("parse", "undecodable")
    assert reject["detail"].startswith("not text:")


# --- titles and the leading headline -------------------------------------------------------


@pytest.mark.parametrize(
    "title, site_name, url, expected",
    [
        ("Bridge opens after three years - The Paradigm", "The Paradigm", None, "Bridge opens after three years"),
        (
            "Bridge opens after three years - The Paradigm",
            None,
            "https://theparadigm.ng/a",
            "Bridge opens after three years",
        ),
        (
            "LinkNaija | Bridge opens after three years",
            None,
            "https://www.linknaija.com/a",
            "Bridge opens after three years",
        ),
        (
            "Bridge opens after three years — WIRED",
            "WIRED",
            "https://www.wired.com/story/x",
            "Bridge opens after three years",
        ),
        ("News :: Bridge opens after three years · news", "News", None, "Bridge opens after three years"),
        ("市议会批准修建新桥 - 新华网", "新华网", None, "市议会批准修建新桥"),
        ("Home - The Paradigm", "The Paradigm", None, "Home - The Paradigm"),  # the rest is no headline
        ("The Paradigm", "The Paradigm", None, "The Paradigm"),
        (
            "Bridge opens - and traffic falls by half",
            "The Paradigm",
            "https://theparadigm.ng/a",
            "Bridge opens - and traffic falls by half",
        ),
        (
            "Paradigm shift: bridge opens after three years",
            "The Paradigm",
            None,
            "Paradigm shift: bridge opens after three years",
        ),
        (None, "The Paradigm", None, None),
    ],
)
def test_site_name_is_stripped_from_titles(title, site_name, url, expected):
    assert strip_site_name(title, site_name, url) == expected


def test_page_title_loses_the_og_site_name():
    title, paragraphs = STORIES["iso-8859-2"]
    html = page_html(
        title,
        paragraphs,
        '<meta property="og:site_name" content="Gazeta Mostowa">',
        html_title=f"{title} | Gazeta Mostowa",
    ).replace(f"<h1>{title}</h1>", "")
    html = html.replace("<title>", f'<meta property="og:title" content="{title} | Gazeta Mostowa"><title>')
    page = extract_html(html.encode("utf-8"), "https://gazetamostowa.pl/a")
    assert page["title"] == title and page["site_name"] == "Gazeta Mostowa"


def test_title_element_with_the_site_name_first_gives_the_headline():
    # No <h1> or og:title: trafilatura takes the half of <title> without a dot, the site name.
    paragraphs = STORIES["windows-1251"][1]
    html = page_html("", paragraphs, html_title="LinkNaija | Городской совет одобрил новый мост").replace(
        "<h1></h1>", ""
    )
    page = extract_html(html.encode("utf-8"), "https://www.linknaija.com/news/bridge")
    assert page["title"] == "Городской совет одобрил новый мост"
    assert page["text"] == "\n\n".join(paragraphs)


def test_leading_headline_is_dropped_after_blank_lines():
    text = "\n\n   \nBridge opens after three years\nThe council voted on Tuesday.\nWork starts in May."
    assert drop_leading_title(text, "Bridge opens after three years") == (
        "The council voted on Tuesday.\nWork starts in May."
    )
    assert drop_leading_title("\n\nBridge opens after three years", "Bridge opens after three years") == (
        "Bridge opens after three years"
    )  # the headline alone is the text: keep it
    assert drop_leading_title("\nOther first line\nBody.", "Bridge opens") == "Other first line\nBody."


def test_a_body_cut_into_chunks_is_read_whole_without_what_lies_between():
    # wired.com's layout: the body in sibling containers of one class, ads between them.
    chunks = [
        [
            f"Part {n}, paragraph {i}: the engineers tested the battery packs in the cold again "
            f"this week, and the range they measured kept improving slowly."
            for i in range(5)
        ]
        for n in range(4)
    ]
    containers = "".join(
        '<div class="body body__container article__body">' + "".join(f"<p>{p}</p>" for p in chunk) + "</div>"
        '<div class="ad__slot"><p>Advertisement: buy the new phone today</p></div>'
        for chunk in chunks
    )
    html = (
        "<html><head><title>Cold battery test</title></head><body><main><article>"
        f"<h1>Cold battery test</h1>{containers}</article></main></body></html>"
    )
    page = extract_html(html.encode("utf-8"), "https://www.wired.com/story/cold-battery-test/")
    assert page["text"] == "\n\n".join(p for chunk in chunks for p in chunk)


# --- a user's run, and files vs fetched pages ---------------------------------------------


def test_run_over_legacy_charset_files_writes_the_original_text(tmp_path, capsys):
    inputs, output = tmp_path / "pages", tmp_path / "out"
    inputs.mkdir()
    for charset, (title, paragraphs) in STORIES.items():
        for declared, head in declarations(charset).items():
            (inputs / f"{charset}__{declared}.html").write_bytes(page_html(title, paragraphs, head).encode(charset))
    code = main(["run", "--input", str(inputs), "--no-nlp", "--output", str(output)])
    printed = capsys.readouterr()
    assert code == 0, printed.err[-2000:]
    assert "inputs = articles + duplicates + rejects: ok" in printed.out + printed.err
    view = open_output(str(output))
    rows = view.execute("SELECT input, title, text, authors, published_at FROM articles").fetchall()
    assert len(rows) == 3 * len(STORIES)
    for name, title, text, authors, published_at in rows:
        charset = name.rsplit("/", 1)[-1].split("__")[0]
        assert (title, text) == (STORIES[charset][0], "\n\n".join(STORIES[charset][1])), name
        assert authors == [AUTHOR] and published_at.date().isoformat() == "2026-03-02"
    assert view.execute("SELECT count(*) FROM rejects").fetchone() == (0,)


@pytest.mark.parametrize("charset", sorted(STORIES))
def test_fetched_page_and_file_give_the_same_article(charset, feed_server, tmp_path):
    title, paragraphs = STORIES[charset]
    data = page_html(title, paragraphs).encode(charset)  # the charset only in the HTTP header
    feed_server.route(
        "/story.html", lambda request: Response(200, {"Content-Type": f"text/html; charset={charset}"}, data)
    )
    entry = {
        "input": "feed#0",
        "url": feed_server.url("/story.html"),
        "text": "Feed summary.",
        "text_source": "feed",
        "title": None,
        "authors": [],
        "published_at": None,
        "language": None,
    }
    fetched, reject = enrich_with_page(entry, LOCAL)
    assert reject is None and fetched["text_source"] == "page"
    (from_file,) = parse_raw(
        raw("story.html", page_html(title, paragraphs, declarations(charset)["meta"]).encode(charset))
    )
    fields = ("title", "text", "authors", "published_at")
    assert {f: fetched[f] for f in fields} == {f: from_file[f] for f in fields}
    assert_is_story(fetched, charset)


def test_fetched_page_that_is_no_text_is_a_fetch_reject(feed_server):
    noise = random.Random(3).randbytes(3000)
    feed_server.route(
        "/noise.html",
        lambda request: Response(
            200, {"Content-Type": "text/html"}, b"<html><body><p>" + noise + b"</p></body></html>"
        ),
    )
    entry = {
        "input": "feed#0",
        "url": feed_server.url("/noise.html"),
        "text": "Feed summary.",
        "text_source": "feed",
        "title": "T",
        "authors": [],
        "published_at": None,
        "language": None,
    }
    kept, reject = enrich_with_page(entry, LOCAL)
    assert kept is entry and (reject["stage"], reject["error"]) == ("fetch", "undecodable")


def test_fetched_page_answered_304_is_a_fetch_reject(feed_server):
    # No validators were sent, so a 304 is no page at all (it used to read as "no_article_text").
    feed_server.route("/stale.html", lambda request: Response(304))
    entry = {"input": "feed#0", "url": feed_server.url("/stale.html"), "text": "Feed summary.", "text_source": "feed"}
    kept, reject = enrich_with_page(entry, LOCAL)
    assert kept is entry
    assert (reject["stage"], reject["error"], reject["detail"]) == ("fetch", "http_error", "HTTP 304 without a body")
