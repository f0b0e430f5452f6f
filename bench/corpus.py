"""A deterministic synthetic news corpus for benchmarks (`python bench/corpus.py --n 2000 DIR`).

Articles of 300-1,500 words in paragraphs, with named people and organisations,
quotes in the styles newsbeam extracts (said-after, said-before, colon, according
to, statements, split, partial, pronoun follow-ups, dash), a share of
near-duplicate copies (re-titled, credit lines, trimmed, lightly edited) and dates
spread over several weeks. Everything is generated from a seed: nothing is
downloaded, and the same arguments give the same bytes.
"""

import argparse
import json
import os
import random
from datetime import datetime, timedelta, timezone

FIRST = (
    "Amara Irene Tomas Helena Ravi Lena Martin Sofia Daniel Priya Omar Clara Jonas Mei Victor "
    "Nadia Samuel Ingrid Felix Rosa Kwame Elena Hugo Leila Marco Anya Pedro Greta Idris Yuki"
).split()
LAST = (
    "Okafor Castellano Reyes Marsh Mehta Fischer Duval Lindqvist Albescu Novak Haddad Brennan Sato "
    "Moreau Keller Adeyemi Varga Nilsson Costa Petrov Obi Laine Romero Hale Kaur Weber Dalton Ito"
).split()
ORG_HEADS = (
    "Northfield Harbourline Kestrel Valmora Eastgate Brightwater Alder Corrin Halverton "
    "Meridian Ostrava Pellham Quarry Redfern Saltmarsh"
).split()
ORG_TAILS = (
    "Council,Ministry of Transport,Port Authority,Energy,Dockworkers' Union,Medical Centre,"
    "University,Rail,Water Company,Chamber of Commerce,Football Club,Bank"
).split(",")
ROLES = (
    "the mayor,the chief executive,a spokesperson,the finance minister,the head of the union,"
    "the club's manager,a senior researcher,the police chief,the committee chair"
).split(",")
TOPICS = (
    "budget,strike,flood barrier,rail line,hospital wing,housing plan,stadium,wind farm,"
    "water prices,school closures,port expansion,data centre"
).split(",")
VERBS = "said,told reporters,added,explained,warned,argued,insisted".split(",")
# Word lists for the filler and quote grammar. Unrelated real news stories share
# almost no 5-word runs (25 quotes-dev articles: mean shingle Jaccard 0.000, p99
# 0.002); a few fixed sentence templates made every pair of stories share about 9%
# of their shingles, so content words are drawn from lists large enough that two
# stories rarely repeat a 5-word run (tests/test_bench_smoke.py checks the mean).
SUBJECTS = (
    "the council",
    "the regional authority",
    "the board",
    "local businesses",
    "residents",
    "the opposition",
    "engineers",
    "the auditors",
    "union members",
    "school leaders",
    "the transport agency",
    "shop owners",
    "farmers",
    "the hospital trust",
    "campaigners",
    "the planning committee",
    "tenants",
    "the fire service",
    "commuters",
    "the regulator",
    "parents",
    "the harbour master",
    "inspectors",
    "the treasury",
    "volunteers",
    "landlords",
)
VERBS_WRITER = (
    "approved approved questioned delayed reviewed criticised welcomed funded rejected amended "
    "postponed defended examined expanded cut published challenged scrapped revived endorsed "
    "doubled halved audited blocked drafted signed disputed extended paused costed tested "
    "launched shelved unveiled backed opposed revised leaked cleared contested"
).split()
VERBS_BASE = (
    "build fund close protect review publish cut raise delay finish repair replace expand "
    "explain reopen defend scrap test measure share restore simplify train hire sell "
    "insure heat staff clean redesign relocate"
).split()
ADJECTIVES = (
    "new revised costly temporary permanent regional national modest ambitious delayed "
    "controversial unpopular popular detailed rushed overdue cheaper larger smaller safer "
    "greener older rural coastal northern southern local annual quarterly emergency "
    "independent joint private public hidden fixed variable draft final interim"
).split()
NOUNS = (
    "budget contract timetable report grant depot scheme programme survey audit tender licence "
    "tariff subsidy loan levy bridge tunnel road bus tram ferry pier school clinic library "
    "pool park market warehouse landfill reservoir pipeline substation turbine battery sensor "
    "camera crossing junction car park cycle lane flood wall sea wall allotment playground "
    "shelter hostel kitchen canteen archive museum theatre stadium pitch roof boiler lift "
    "ward pharmacy ambulance station fleet route fare pension payroll rota lease mortgage "
    "rent deposit permit inquiry appeal petition ballot motion amendment deadline target "
    "forecast deficit surplus reserve fund bond dividend fine penalty refund"
).split()
PREPOSITIONS = (
    "for",
    "on",
    "near",
    "behind",
    "beside",
    "against",
    "without",
    "across",
    "under",
    "around",
    "after",
    "before",
    "despite",
    "alongside",
)
PLACES = (
    "the north of the city",
    "the river",
    "the district",
    "three villages",
    "the coast road",
    "the old market site",
    "the industrial estate",
    "downtown",
    "the eastern suburbs",
    "the ring road",
    "the university campus",
    "the docks",
    "the hill farms",
    "the bus station",
    "the west bank",
    "the former barracks",
    "the marina",
    "the county border",
)
WHEN = (
    "on Monday",
    "last week",
    "in March",
    "after a long debate",
    "late on Thursday",
    "this spring",
    "before the summer recess",
    "at a packed meeting",
    "earlier this year",
    "in a closed session",
    "on Friday evening",
    "in January",
    "during the election",
    "in the autumn",
    "two years ago",
    "by next winter",
    "within a month",
    "overnight",
    "at dawn",
    "over the weekend",
)
LINKS = (
    "a move worth",
    "at a cost of",
    "saving about",
    "adding",
    "covering",
    "losing",
    "raising",
    "borrowing",
    "spending",
    "recovering",
)
MODALS = (
    "we will",
    "we cannot",
    "they should",
    "nobody can",
    "I would",
    "the city must",
    "we have to",
    "people deserve to",
    "you cannot",
    "we never wanted to",
)
CREDITS = ("(Wire) — ", "HARBOURLINE (NB) - ", "")
BOILERPLATE = (
    "Read more: our full coverage of the region.",
    "Share this article on social media.",
    "Sign up for our morning newsletter.",
)


def person(rng) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def organisation(rng) -> str:
    return f"{rng.choice(ORG_HEADS)} {rng.choice(ORG_TAILS)}"


def noun_phrase(rng) -> str:
    return f"the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"


def quote_line(rng) -> str:
    """What a speaker says: a generated clause, capitalised, no final stop."""
    line = (
        f"{rng.choice(MODALS)} {rng.choice(VERBS_BASE)} {noun_phrase(rng)} "
        f"{rng.choice(PREPOSITIONS)} {rng.choice(PLACES)}"
    )
    return line[0].upper() + line[1:]


def quote_paragraph(rng, speaker: str, org: str) -> str:
    line, other = quote_line(rng), quote_line(rng)
    style = rng.randrange(8)
    surname = speaker.split()[-1]
    if style == 0:
        return (
            f"“{line},” {rng.choice(VERBS)} {speaker}, {rng.choice(ROLES)[4:] if rng.random() < 0.5 else 'a resident'}."
        )
    if style == 1:
        return f"{speaker} told reporters: “{line}. {other}.”"
    if style == 2:
        return f"According to {speaker}, the plan is “{line.lower()}”."
    if style == 3:
        return f'In a statement, the {org} said: "{line}."'
    if style == 4:
        return f'"{line}," {surname} said, "and {other.lower()}."'
    if style == 5:
        return (
            f'{surname} called the decision "{rng.choice(("reckless", "overdue", "a good start"))}"'
            f" and said she would {rng.choice(('vote against it', 'support it'))}."
        )
    if style == 6:
        return f"“{line}.” — {speaker}, {rng.choice(ROLES)[4:]}"
    return f"{speaker} spoke after the meeting. “{line},” {rng.choice(('she', 'he'))} said."


def filler_sentence(rng) -> str:
    """Slots filled at random from large lists (and numbers), so distinct stories
    share few 5-word runs."""
    amount = f"{rng.randint(2, 950)} {rng.choice(('million', 'thousand'))} {rng.choice(('euros', 'pounds', 'dollars'))}"
    if rng.random() < 0.5:
        return (
            f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS_WRITER)} {noun_phrase(rng)} "
            f"{rng.choice(PREPOSITIONS)} {rng.choice(PLACES)} {rng.choice(WHEN)}, {rng.choice(LINKS)} "
            f"{amount} {rng.choice(PREPOSITIONS)} {noun_phrase(rng)}"
        )
    return (
        f"{noun_phrase(rng).capitalize()} {rng.choice(PREPOSITIONS)} {rng.choice(PLACES)} was "
        f"{rng.choice(VERBS_WRITER)} by {rng.choice(SUBJECTS)} {rng.choice(WHEN)}, and {rng.choice(SUBJECTS)} "
        f"{rng.choice(VERBS_WRITER)} {noun_phrase(rng)} {rng.choice(PREPOSITIONS)} {amount}"
    )


def filler_paragraph(rng) -> str:
    return ". ".join(filler_sentence(rng) for _ in range(rng.randint(2, 4))) + "."


def base_article(rng, index: int, start: datetime, words: tuple[int, int] = (300, 1500)) -> dict:
    topic, org = rng.choice(TOPICS), organisation(rng)
    speakers = [person(rng) for _ in range(rng.randint(2, 4))]
    target_words = rng.randint(*words)
    paragraphs = [
        f"The {org} on {rng.choice(('Monday', 'Tuesday', 'Thursday'))} backed a {topic} "
        f"that {speakers[0]} has championed for two years, despite objections from {speakers[1]}."
    ]
    while sum(len(p.split()) for p in paragraphs) < target_words:
        if rng.random() < 0.35:
            paragraphs.append(quote_paragraph(rng, rng.choice(speakers), org))
        else:
            paragraphs.append(filler_paragraph(rng))
    published = start + timedelta(minutes=rng.randrange(60 * 24 * 42))
    return {
        "title": f"{org} backs {topic} in close vote ({index})",
        "text": "\n\n".join(paragraphs),
        "url": f"https://news.example.org/{topic.replace(' ', '-')}/{index}",
        "published": published.isoformat(),
        "source": "Example News",
        "authors": [person(rng)],
    }


def near_copy(rng, original: dict, index: int) -> dict:
    """A syndicated copy: new headline and URL, a credit line, boilerplate, trimmed or edited."""
    paragraphs = original["text"].split("\n\n")
    if rng.random() < 0.5 and len(paragraphs) > 4:
        paragraphs = paragraphs[:-1]
    if rng.random() < 0.5:
        words = paragraphs[-1].split()
        words[rng.randrange(len(words))] = "reportedly"
        paragraphs[-1] = " ".join(words)
    paragraphs[0] = rng.choice(CREDITS) + paragraphs[0]
    paragraphs.append(rng.choice(BOILERPLATE))
    published = datetime.fromisoformat(original["published"]) + timedelta(hours=rng.randint(1, 12))
    return {
        **original,
        "title": "UPDATE: " + original["title"],
        "text": "\n\n".join(paragraphs),
        "url": f"https://mirror.example.net/story/{index}?utm_source=feed",
        "published": published.isoformat(),
        "source": "Mirror Wire",
    }


def generate(n: int, seed: int = 7, near_dup_share: float = 0.1) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    articles = []
    for index in range(n):
        if articles and rng.random() < near_dup_share:
            articles.append(near_copy(rng, rng.choice(articles), index))
        else:
            articles.append(base_article(rng, index, start))
    return articles


def write_corpus(articles: list[dict], folder: str, per_file: int = 500) -> list[str]:
    """JSON lines files of `per_file` articles each (many inputs, few files)."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for first in range(0, len(articles), per_file):
        path = os.path.join(folder, f"corpus-{first // per_file:05d}.jsonl")
        with open(path, "w", encoding="utf-8") as handle:
            for article in articles[first : first + per_file]:
                handle.write(json.dumps(article, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--near-dup-share", type=float, default=0.1)
    args = parser.parse_args()
    paths = write_corpus(generate(args.n, args.seed, args.near_dup_share), args.folder)
    print(f"{args.n} articles in {len(paths)} files under {args.folder}")


if __name__ == "__main__":
    main()
