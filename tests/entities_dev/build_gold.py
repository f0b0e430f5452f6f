"""Builds gold.jsonl (next to this file): entity gold for dev articles of ../shared/quotes-dev
and tests/quotes_dev_extra, annotated by reading each text (bootstrapped from the model's output,
every mention then checked and corrected by hand). Run this file after editing ANNOTATIONS.

Each article's mentions are listed in text order as `text|LABEL` (LABEL: PERSON, ORG or LOC, the
common labels of transforms/nlp/labels.py) or `text|LABEL/ALSO` where the name is used for two
things at once (a city standing for its football club, "Kremlin" for the government): both
labels count as right. Offsets are found in order and point into the text the pipeline analyses
(the article without its headline); the build lists every occurrence of an annotated string that
no mention covers, so a forgotten mention shows up.

Conventions: a span is the name only, without a leading "the", a title or honorific ("Judge",
"Ms", "Councillor") or a possessive "’s"; a nickname in quotes stays inside the name it splits
(`Robert "Bobby" Lane`); a place or organisation used as a modifier is a mention ("the Vellmore
team", "Russia-U.S. relations"); nationalities, products, events and works are not annotated."""

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from test_quotes_dev import DEV_DIR, EXTRA_GOLD, body_of  # noqa: E402 - the dev sets' paths and body rule

ANNOTATIONS = {
    "seed-russia-ambassador": """
Moscow|LOC United States|LOC Joe Biden|PERSON Putin|PERSON U.S.|LOC
Biden|PERSON U.S.|LOC
Putin|PERSON Biden|PERSON Democratic Party|ORG Trump|PERSON U.S.|LOC
Biden|PERSON United States|LOC Kremlin|ORG/LOC Dmitry Peskov|PERSON
Putin|PERSON
Moscow|LOC Biden|PERSON Washington|LOC D.C.|LOC U.S.|LOC Washington|LOC Russia|LOC
Russia|LOC Foreign Ministry|ORG U.S.|LOC Anatoly Antonov|PERSON Russia|LOC U.S.|LOC Washington|LOC
Maria Zakharova|PERSON
Biden|PERSON White House|ORG/LOC Jen Psaki|PERSON Biden|PERSON Putin|PERSON
Biden|PERSON Russia|LOC Trump|PERSON Russia|LOC Trump|PERSON Biden|PERSON Biden|PERSON
Biden|PERSON Russia|LOC Trump|PERSON
""",
    "dev-01": """
Halverton|LOC Irene Castellano|PERSON Castellano|PERSON Eastgate|LOC Darnell Okafor|PERSON Okafor|PERSON
Paul Vireo|PERSON Vireo|PERSON
""",
    "dev-02": """
Brightwater Foods|ORG Margaret Lindqvist|PERSON Lindqvist|PERSON Brightwater|ORG Tomasz Hale|PERSON
Corrigan Securities|ORG Marsh Lane|LOC Brightwater Foods|ORG Margaret Lindqvist|PERSON Brightwater Foods|ORG
""",
    "dev-03": """
Robert "Bobby" Lane|PERSON Port Edrin|ORG/LOC Kessling Athletic|ORG Dunmore Rovers|ORG Elias Varga|PERSON
Quayside Park|LOC Elias|PERSON Lane|PERSON Port Edrin|ORG/LOC Sofia Brandt|PERSON Kessling|ORG/LOC
Owen Marsh|PERSON Varga|PERSON Marsh|PERSON Kessling|ORG/LOC Gavin Pyle|PERSON Marsh|PERSON Pyle|PERSON
Brandt|PERSON
""",
    "dev-04": """
Harold Penrose|PERSON Caldwell County|LOC Penrose|PERSON Natalie Ruiz|PERSON Ruiz|PERSON Ruiz|PERSON
Abigail Thornbury|PERSON Ruiz|PERSON Penrose|PERSON Wexford Advisory|ORG Lionel Grange|PERSON Grange|PERSON
Penrose|PERSON
""",
    "dev-05": """
Serran Highlands|LOC University of Vellmore|ORG Limnology Letters|ORG Priya Annamalai|PERSON
Annamalai|PERSON Annamalai|PERSON Serran Water Authority|ORG Marcus Fell|PERSON Tarrow Institute|ORG
Vellmore|ORG
""",
    "dev-06": """
Old Millbrook Bridge|LOC Tarnside District Council|ORG Janet Moreau|PERSON Millbrook|LOC Ashby Cross|LOC
Harlow Rail|ORG Ashby|LOC Harlow Rail|ORG Deborah Quinn|PERSON Kettle & Crumb|ORG Arjun Mehta|PERSON
Mill Street|LOC Mehta|PERSON Millbrook Library|ORG/LOC
""",
    "dev-07": """
National Weather Bureau|ORG Helen Marchetti|PERSON Marchetti|PERSON Carrick Bay|LOC Declan Royce|PERSON
Royce|PERSON Coastal Defence Agency|ORG Carrick Bay|LOC Port Edrin|LOC
""",
    "dev-08": """
Quillon|ORG Quillon|ORG Nadia Petrov|PERSON Petrov|PERSON Quillon|ORG Daniel Osei|PERSON Osei|PERSON
Open Ledger|ORG Daniel Osei|PERSON Quillon|ORG
""",
    "dev-09": """
Eleanor Pryce|PERSON Stanmoor|LOC Pryce|PERSON Stanmoor|LOC Graham Ashdown|PERSON Stanmoor North|LOC
Graham|PERSON Ashdown|PERSON Ministry of Housing|ORG Stanmoor|LOC Brenda Hollis|PERSON
""",
    "dev-10": """
Raymond Okonkwo|PERSON Leonard Fitch|PERSON Brampton Heights|LOC Celia Vance|PERSON Dorothy Keane|PERSON
Leonard|PERSON Walter|PERSON Fitch|PERSON Okonkwo|PERSON Fitch|PERSON
""",
    "dev-11": """
Norvale Air|ORG SkyLink|ORG Norvale|ORG Rafael Duarte|PERSON Duarte|PERSON Carla Jensen|PERSON
Fair Trade Commission|ORG Ines Kowal|PERSON Lambert & Roe|ORG
""",
    "dev-12": """
Claire Marchand|PERSON Yuna Takeda|PERSON Marchand|PERSON Takeda|PERSON Marchand|PERSON
Tomas “Tomi” Berger|PERSON Marchand|PERSON Berger|PERSON Takeda|PERSON Marchand|PERSON
Anna Liebling|PERSON Rosa Quintero|PERSON
""",
    "extra-01": """
Elaine Whitcombe|PERSON Harlow|LOC Whitcombe|PERSON House|ORG Tobias Grell|PERSON Grell|PERSON
Marisol Otero|PERSON Harlow Riders Union|ORG Whitcombe|PERSON Dario Fenn|PERSON Fenn|PERSON Grell|PERSON
Nora Lindqvist|PERSON
""",
    "extra-02": """
LONDON|LOC Meridian Herald|ORG Ruth Okonedo|PERSON Meridian Herald|ORG Independent Press Standards Board|ORG
Peter Valdane|PERSON Valdane|PERSON Channel 9 News|ORG Okonedo|PERSON Twitter|ORG Saint Columba Hospital|ORG
Samuel Achebe|PERSON Clara Moss|PERSON
""",
    "extra-03": """
SOUTHAMPTON|LOC England|LOC Port of Kessick|LOC/ORG Ines Marlow|PERSON Kessick Port Holdings|ORG
Ferdinand Oyelaran|PERSON Marlow|PERSON Priya Nandakumar|PERSON Hollin Bank|ORG
""",
    "extra-04": """
WASHINGTON|LOC Helen Ashgrove|PERSON Ashgrove|PERSON Caldwell|PERSON Martin Caldwell|PERSON Ashgrove|PERSON
Caldwell|PERSON Paul Ibsen|PERSON
""",
}
MENTION = re.compile(r"(.+?)\|([A-Z]+)(?:/([A-Z]+))?(?=\s|$)")


def source_texts() -> dict:
    """id -> the text the pipeline analyses, for every article of both dev sets."""
    texts = {}
    for path in (DEV_DIR / "gold.jsonl", EXTRA_GOLD):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                texts[record["id"]] = body_of(record["text"])
    return texts


def occurrences(text: str, name: str):
    return [m.start() for m in re.finditer(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text)]


def annotate(article_id: str, text: str, listing: str) -> tuple[list, list]:
    """(mentions with offsets, warnings about occurrences left unannotated)."""
    mentions, cursor = [], 0
    for match in MENTION.finditer(listing.strip().replace("\n", " ")):
        name, label, also = match.group(1).strip(), match.group(2), match.group(3)
        found = [s for s in occurrences(text, name) if s >= cursor]
        if not found:
            raise ValueError(f"{article_id}: {name!r} not found after offset {cursor}")
        start = found[0]
        mention = {"text": name, "label": label, "start": start, "end": start + len(name)}
        if also:
            mention["also"] = also
        mentions.append(mention)
        cursor = start + len(name)
    covered = [(m["start"], m["end"]) for m in mentions]
    warnings = [
        f"{article_id}: unannotated {name!r} at {s}"
        for name in sorted({m["text"] for m in mentions})
        for s in occurrences(text, name)
        if not any(a <= s and s + len(name) <= b for a, b in covered)
    ]
    return mentions, warnings


def main():
    texts = source_texts()
    with (HERE / "gold.jsonl").open("w", encoding="utf-8") as out:
        for article_id, listing in ANNOTATIONS.items():
            mentions, warnings = annotate(article_id, texts[article_id], listing)
            for warning in warnings:
                print(warning)
            out.write(
                json.dumps({"id": article_id, "text": texts[article_id], "mentions": mentions}, ensure_ascii=False)
                + "\n"
            )
    print(
        f"{len(ANNOTATIONS)} articles, "
        f"{sum(len(MENTION.findall(v.replace(chr(10), ' '))) for v in ANNOTATIONS.values())} mentions"
    )


if __name__ == "__main__":
    main()
