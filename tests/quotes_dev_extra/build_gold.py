# ruff: noqa: E501 - each article paragraph is one line, as in the gold text
"""Builds gold.jsonl (next to this file): original dev articles for quote extraction, annotated as
../shared/quotes-dev/README.md describes. Edit the articles here and run this file; offsets are
computed, so every quote and mention is checked to be an exact substring of its text.

Each article is (id, title, beat, marks, body, quotes, distractors); a quote is (quote, speaker,
speaker_mention, kind, style), in text order; a distractor is (string, type)."""

import json
from pathlib import Path

ARTICLES = []


def art(id, title, beat, marks, body, quotes, non_quotes=()):
    ARTICLES.append(
        dict(id=id, title=title, beat=beat, marks=marks, body=body, quotes=quotes, non_quotes=list(non_quotes))
    )


art(
    "extra-01",
    "Governor attacks rival transit plan as budget talks stall",
    "politics",
    "curly",
    """
Governor Elaine Whitcombe on Tuesday called the rival transit plan “a fantasy” and accused legislative leaders of “kicking the can” on a budget that is already three weeks late.

Speaking at a press conference in Harlow, Whitcombe said the proposal from House Speaker Tobias Grell would leave a gap of $400 million that she described as “simply unbridgeable.” She labelled the speaker’s figures “creative accounting” and said her own staff had found errors on almost every page.

Grell, who has led the chamber since 2019, rejected what he called “a campaign of distortion” by the governor’s office. “The numbers are public, every line of them,” he told reporters on Wednesday. “Anyone who reads them will see that the governor is wrong.”

The dispute has left transit riders in limbo. Marisol Otero, who chairs the Harlow Riders Union, branded the talks “a hostage negotiation with our buses as the hostages.”

Whitcombe has promised a “clean break” with what she dubbed the “patch-and-pray” budgets of her predecessor. Her spokesman, Dario Fenn, said the governor would not sign a budget that cut bus services. “She has been clear about that since January,” Fenn said.

Grell’s deputy, Nora Lindqvist, struck a softer tone. “We are closer than people think,” she said. “A deal by the end of the month is possible.”
""",
    [
        ("a fantasy", "Elaine Whitcombe", "Governor Elaine Whitcombe", "partial", "partial"),
        ("kicking the can", "Elaine Whitcombe", "Governor Elaine Whitcombe", "partial", "partial"),
        ("simply unbridgeable.", "Elaine Whitcombe", "she", "partial", "partial"),
        ("creative accounting", "Elaine Whitcombe", "She", "partial", "partial"),
        ("a campaign of distortion", "Tobias Grell", "he", "partial", "partial"),
        ("The numbers are public, every line of them,", "Tobias Grell", "he", "direct", "said-after"),
        ("Anyone who reads them will see that the governor is wrong.", "Tobias Grell", "he", "direct", "no-cue"),
        (
            "a hostage negotiation with our buses as the hostages.",
            "Marisol Otero",
            "Marisol Otero, who chairs the Harlow Riders Union",
            "partial",
            "partial",
        ),
        ("clean break", "Elaine Whitcombe", "Whitcombe", "partial", "partial"),
        ("patch-and-pray", "Elaine Whitcombe", "she", "partial", "partial"),
        ("She has been clear about that since January,", "Dario Fenn", "Fenn", "direct", "said-after"),
        ("We are closer than people think,", "Nora Lindqvist", "she", "direct", "said-after"),
        ("A deal by the end of the month is possible.", "Nora Lindqvist", "she", "direct", "no-cue"),
    ],
)

art(
    "extra-02",
    "Broadcaster's editor defends coverage after complaint upheld",
    "media",
    "straight",
    """
LONDON -- The editor in chief of the Meridian Herald defended the paper's reporting on Thursday after the press regulator upheld a complaint about a story on hospital waiting lists.

"We stand by the substance of every line we published," Ruth Okonedo, the editor in chief of the Meridian Herald, said in a statement. "Where we got a figure wrong, we corrected it within hours."

The Independent Press Standards Board said the story had given a "misleading impression" of delays at two hospitals in the city. In its ruling, the board said: "The newspaper failed to take care not to publish inaccurate information."

Health minister Peter Valdane welcomed the decision. "Patients deserve accurate information, not scare stories," Valdane told Channel 9 News on Thursday evening.

Okonedo later wrote on Twitter that the paper would publish the ruling in full. "Accountability applies to us as much as to anyone," she wrote.

A spokesperson for Saint Columba Hospital said staff had been "deeply upset" by the coverage.

Reporting by Samuel Achebe; Editing by Clara Moss
""",
    [
        (
            "We stand by the substance of every line we published,",
            "Ruth Okonedo",
            "Ruth Okonedo, the editor in chief of the Meridian Herald",
            "direct",
            "said-after",
        ),
        (
            "Where we got a figure wrong, we corrected it within hours.",
            "Ruth Okonedo",
            "Ruth Okonedo, the editor in chief of the Meridian Herald",
            "direct",
            "no-cue",
        ),
        (
            "misleading impression",
            "Independent Press Standards Board",
            "The Independent Press Standards Board",
            "partial",
            "partial",
        ),
        (
            "The newspaper failed to take care not to publish inaccurate information.",
            "Independent Press Standards Board",
            "the board",
            "direct",
            "colon",
        ),
        (
            "Patients deserve accurate information, not scare stories,",
            "Peter Valdane",
            "Valdane",
            "direct",
            "said-after",
        ),
        ("Accountability applies to us as much as to anyone,", "Ruth Okonedo", "she", "direct", "said-after"),
        ("deeply upset", "Saint Columba Hospital", "A spokesperson for Saint Columba Hospital", "partial", "partial"),
    ],
)

art(
    "extra-03",
    "Port strike enters second week as union rejects offer",
    "business",
    "curly",
    """
SOUTHAMPTON, England — Dockworkers at the Port of Kessick rejected a revised pay offer on Monday, extending a strike that has left hundreds of containers stranded.

The union’s general secretary, Ines Marlow, said the offer was “an insult dressed up as a compromise.” Members had voted by a large margin to stay out, she said.

Kessick Port Holdings, which runs the terminal, said in a statement that it was “disappointed” by the vote. “The offer on the table is the best in the industry,” the company said. “We urge the union to put it to a second ballot.”

Ferdinand Oyelaran, the port’s chief executive, said on Sunday that he was ready to meet union leaders at any time. “My door is open. It has been open since the first day of this dispute, and it will stay open.”

Marlow responded that talks would only resume if the company dropped its demand for longer shifts. “We are not going back to twelve-hour days … not now, not ever,” she told a rally outside the terminal gates.

Economists warned that the dispute could push up prices. “Every week of this strike adds cost to goods on supermarket shelves,” said Priya Nandakumar, an analyst at Hollin Bank.
""",
    [
        (
            "an insult dressed up as a compromise.",
            "Ines Marlow",
            "The union’s general secretary, Ines Marlow",
            "partial",
            "partial",
        ),
        ("disappointed", "Kessick Port Holdings", "Kessick Port Holdings", "partial", "partial"),
        (
            "The offer on the table is the best in the industry,",
            "Kessick Port Holdings",
            "the company",
            "direct",
            "said-after",
        ),
        ("We urge the union to put it to a second ballot.", "Kessick Port Holdings", "the company", "direct", "no-cue"),
        (
            "My door is open. It has been open since the first day of this dispute, and it will stay open.",
            "Ferdinand Oyelaran",
            "Ferdinand Oyelaran, the port’s chief executive",
            "direct",
            "no-cue",
        ),
        (
            "We are not going back to twelve-hour days … not now, not ever,",
            "Ines Marlow",
            "she",
            "direct",
            "said-after",
        ),
        (
            "Every week of this strike adds cost to goods on supermarket shelves,",
            "Priya Nandakumar",
            "Priya Nandakumar, an analyst at Hollin Bank",
            "direct",
            "said-after",
        ),
    ],
)

art(
    "extra-04",
    "Senator questions watchdog chief over missing files",
    "politics",
    "straight",
    """
WASHINGTON -- Senator Helen Ashgrove pressed the head of the federal records watchdog on Wednesday over thousands of files that went missing during an office move.

Ashgrove opened the hearing with a long statement. "Director Caldwell has had two years to fix this. Two years. And today we learn that the problem is worse than anyone told us."

Director Martin Caldwell said the agency had recovered most of the files. "We have found nine in ten of them, and we will find the rest," he said. He called the senator's account "unfair to the staff who have worked nights on this."

Ashgrove was not persuaded. "Nine in ten," she said, "is not a standard any family would accept for their own records."

Caldwell, a former auditor, described the loss as "a failure of process, not of people." Asked whether anyone would be disciplined, he said: "That review is under way, and I will not prejudge it."

Senator Paul Ibsen, the committee's ranking member, said the agency needed more money, not more hearings. "You cannot ask people to do more with less, year after year, and then act surprised."
""",
    [
        (
            "Director Caldwell has had two years to fix this. Two years. And today we learn that the problem is worse than anyone told us.",
            "Helen Ashgrove",
            "Ashgrove",
            "direct",
            "no-cue",
        ),
        (
            "We have found nine in ten of them, and we will find the rest,",
            "Martin Caldwell",
            "he",
            "direct",
            "said-after",
        ),
        ("unfair to the staff who have worked nights on this.", "Martin Caldwell", "He", "partial", "partial"),
        ("Nine in ten,", "Helen Ashgrove", "she", "direct", "split"),
        (
            "is not a standard any family would accept for their own records.",
            "Helen Ashgrove",
            "she",
            "direct",
            "split",
        ),
        ("a failure of process, not of people.", "Martin Caldwell", "Caldwell, a former auditor", "partial", "partial"),
        ("That review is under way, and I will not prejudge it.", "Martin Caldwell", "he", "direct", "colon"),
        (
            "You cannot ask people to do more with less, year after year, and then act surprised.",
            "Paul Ibsen",
            "Senator Paul Ibsen, the committee's ranking member",
            "direct",
            "no-cue",
        ),
    ],
    (),
)

art(
    "extra-05",
    "Report warns river flood defences need urgent repair",
    "local",
    "curly",
    """
Flood defences along the River Tamsin are “not fit for purpose” and need urgent repair, according to a report published on Friday by the Tamsin Valley Water Authority.

The report found that a third of the embankments inspected were at “high risk” of failure in a major storm. “Without investment in the next two years, the likelihood of a serious breach rises sharply,” the report said.

Councillor Owen Pritchard, who represents the riverside ward of Lowmead, said residents had been warning about the embankments for a decade. “People here have sandbags in their garages. They know what is coming,” Pritchard said.

The authority’s chairwoman, Gwen Tallis, said funding had been agreed for the most urgent work. “We will start on the worst sections in the spring,” she said, “and we will publish progress every quarter.”

Police said they had no record of the “Lowmead Six,” a group of residents who claimed on social media that they had been threatened with arrest for blocking a maintenance road.

The Met Office has warned of heavy rain later this month. A forecaster, Lena Brandt, said the region could see “a month’s worth of rain in two days.”
""",
    [
        (
            "not fit for purpose",
            "Tamsin Valley Water Authority",
            "a report published on Friday by the Tamsin Valley Water Authority",
            "partial",
            "according-to",
        ),
        ("high risk", "Tamsin Valley Water Authority", "The report", "partial", "partial"),
        (
            "Without investment in the next two years, the likelihood of a serious breach rises sharply,",
            "Tamsin Valley Water Authority",
            "the report",
            "direct",
            "report",
        ),
        (
            "People here have sandbags in their garages. They know what is coming,",
            "Owen Pritchard",
            "Pritchard",
            "direct",
            "said-after",
        ),
        ("We will start on the worst sections in the spring,", "Gwen Tallis", "she", "direct", "split"),
        ("and we will publish progress every quarter.", "Gwen Tallis", "she", "direct", "split"),
        ("a month’s worth of rain in two days.", "Lena Brandt", "A forecaster, Lena Brandt", "partial", "partial"),
    ],
    [("Lowmead Six", "nickname")],
)

art(
    "extra-06",
    "Chess prodigy wins national title at 14",
    "sport",
    "straight",
    """
Fourteen-year-old Amara Quist became the youngest national chess champion in the country's history on Sunday, beating the defending champion, Viktor Hale, in a final-round game that lasted more than six hours.

Quist, who learned the game from her grandmother, said she had not expected to win. "I just wanted to play a good tournament. The title is a bonus," she said.

Hale, 41, was gracious in defeat. He described Quist as "the most talented player I have faced in twenty years" and predicted she would "go all the way to the top."

The national federation's president, Lydia Marchetti, said Quist's win would inspire a new generation. "This is the best thing that could have happened to chess in this country," Marchetti said. "Entry numbers for junior events have already doubled since the summer."

Her coach, Tomas Reyna, said Quist would now focus on school exams. "She is fourteen. Chess can wait a few weeks," Reyna told the Valley Courier.

Quist's next event is the European youth championship in March. Asked about her goals, she said simply: "To enjoy it."
""",
    [
        (
            "I just wanted to play a good tournament. The title is a bonus,",
            "Amara Quist",
            "she",
            "direct",
            "said-after",
        ),
        ("the most talented player I have faced in twenty years", "Viktor Hale", "He", "partial", "partial"),
        ("go all the way to the top.", "Viktor Hale", "He", "partial", "partial"),
        (
            "This is the best thing that could have happened to chess in this country,",
            "Lydia Marchetti",
            "Marchetti",
            "direct",
            "said-after",
        ),
        (
            "Entry numbers for junior events have already doubled since the summer.",
            "Lydia Marchetti",
            "Marchetti",
            "direct",
            "no-cue",
        ),
        ("She is fourteen. Chess can wait a few weeks,", "Tomas Reyna", "Reyna", "direct", "said-after"),
        ("To enjoy it.", "Amara Quist", "she", "direct", "colon"),
    ],
)

art(
    "extra-07",
    "Mayor and council clash over housing targets",
    "politics",
    "straight",
    """
KESTON, Ontario (CP) -- "We will not build towers in people's back gardens." That was the message from Mayor Lucia Ferrante on Monday as she rejected the province's new housing targets.

Ferrante dubbed the targets "a wish list written by people who have never visited Keston." Councillor Ben Achterberg, her main rival on the council, took the opposite view. He said the city faced what he called a "slow-motion emergency" and accused the mayor of "hiding behind the word character."

Achterberg's "build everywhere" plan would allow four-storey buildings on most residential streets. The mayor called it "reckless" in a radio interview, a term Achterberg said he would wear "as a badge of honour."

Gail Sorensen, the editor in chief of the Keston Ledger, which has backed the targets in several editorials, said the paper would keep pressing the mayor. "Our readers cannot afford to live here," Sorensen told CBC Radio. "That is the story."

Provincial housing minister Arjun Mehra, asked about the dispute, said municipalities would lose funding if they missed the targets. "The rules are the same for every city," Mehra wrote on X.

Reporting by Hannah Kowalczyk
""",
    [
        (
            "We will not build towers in people's back gardens.",
            "Lucia Ferrante",
            "Mayor Lucia Ferrante",
            "direct",
            "no-cue",
        ),
        (
            "a wish list written by people who have never visited Keston.",
            "Lucia Ferrante",
            "Ferrante",
            "partial",
            "partial",
        ),
        ("slow-motion emergency", "Ben Achterberg", "he", "partial", "partial"),
        ("hiding behind the word character.", "Ben Achterberg", "He", "partial", "partial"),
        ("reckless", "Lucia Ferrante", "The mayor", "partial", "partial"),
        ("as a badge of honour.", "Ben Achterberg", "Achterberg", "partial", "partial"),
        ("Our readers cannot afford to live here,", "Gail Sorensen", "Sorensen", "direct", "said-after"),
        ("That is the story.", "Gail Sorensen", "Sorensen", "direct", "no-cue"),
        ("The rules are the same for every city,", "Arjun Mehra", "Mehra", "direct", "said-after"),
    ],
    [("build everywhere", "label")],
)

art(
    "extra-08",
    "Hospital trust apologises after cyberattack delays surgery",
    "health",
    "curly",
    """
MANCHESTER, England (Reuters) — A hospital trust in northern England apologised on Friday after a cyberattack forced it to postpone more than 300 operations.

The Pennine Health Trust’s chief executive, Dr Samuel Okafor, said the attack had been “sophisticated and deliberate.” He told BBC Radio Manchester that patient records had not been stolen. “Our priority is to get every postponed patient seen as quickly as possible,” Okafor said.

Okafor’s predecessor had warned the board two years ago. “The trust is running systems that are older than some of our junior doctors,” she wrote in a memo seen by Reuters.

Nadia Pereira, whose father’s heart operation was cancelled, said the family had been given no new date. “Nobody can tell us anything. We ring every morning … and every morning it is the same answer: wait.”

The National Cyber Security Centre said it was working with the trust. A spokesman for the centre said the attack bore “the hallmarks” of a group that has targeted hospitals in Europe.

Reporting by Kate Holloway; Editing by Mark Trevelyan
""",
    [
        (
            "sophisticated and deliberate.",
            "Samuel Okafor",
            "The Pennine Health Trust’s chief executive, Dr Samuel Okafor",
            "partial",
            "partial",
        ),
        (
            "Our priority is to get every postponed patient seen as quickly as possible,",
            "Samuel Okafor",
            "Okafor",
            "direct",
            "said-after",
        ),
        (
            "The trust is running systems that are older than some of our junior doctors,",
            "Okafor’s predecessor",
            "she",
            "direct",
            "said-after",
        ),
        (
            "Nobody can tell us anything. We ring every morning … and every morning it is the same answer: wait.",
            "Nadia Pereira",
            "Nadia Pereira, whose father’s heart operation was cancelled",
            "direct",
            "no-cue",
        ),
        ("the hallmarks", "National Cyber Security Centre", "A spokesman for the centre", "partial", "partial"),
    ],
)

art(
    "extra-09",
    "Transport secretary defends rail cuts in heated hearing",
    "politics",
    "curly",
    """
WASHINGTON (AP) — Transportation Secretary Rafael Domingo on Thursday defended cuts to long-distance rail routes, a plan his critics have called “the slow death of the passenger train.”

Domingo told the Senate commerce committee that the routes lost money on every ticket sold. Asked about the criticism, he said the cuts were “painful but necessary” and promised what he described as “a leaner, faster network” by 2030.

Senator Carla Whitfield, a Democrat from Ohio, was unimpressed. Her verdict — “a betrayal of rural America” — drew applause from the gallery. She said the department had ignored its own ridership data, and she accused Domingo of “cooking the books.”

The “managed decline” of the network, a term Whitfield used three times during the hearing, would hit small towns hardest, according to the Rural Transit Coalition. Its director, Owen Baptiste, told NPR the routes were “a lifeline, not a luxury.”

Domingo’s deputy, Karen Liu, said in a post on LinkedIn that the department would publish its ridership figures next month. “We have nothing to hide,” Liu wrote.

Whitfield said she would seek a vote to block the cuts. “This is not over. Not by a long way.”
""",
    [
        ("the slow death of the passenger train.", "critics", "his critics", "partial", "partial"),
        ("painful but necessary", "Rafael Domingo", "he", "partial", "partial"),
        ("a leaner, faster network", "Rafael Domingo", "he", "partial", "partial"),
        ("a betrayal of rural America", "Carla Whitfield", "Her", "partial", "partial"),
        ("cooking the books.", "Carla Whitfield", "she", "partial", "partial"),
        ("managed decline", "Carla Whitfield", "Whitfield", "partial", "partial"),
        ("a lifeline, not a luxury.", "Owen Baptiste", "Its director, Owen Baptiste", "partial", "partial"),
        ("We have nothing to hide,", "Karen Liu", "Liu", "direct", "said-after"),
        ("This is not over. Not by a long way.", "Carla Whitfield", "Whitfield", "direct", "no-cue"),
    ],
)

out = []
for a in ARTICLES:
    text = a["title"] + "\n\n" + a["body"].strip() + "\n"
    pos, quotes = 0, []
    for quote, speaker, mention, kind, style in a["quotes"]:
        start = text.index(quote, pos)
        assert mention in text, (a["id"], mention)
        quotes.append(
            {
                "quote": quote,
                "speaker": speaker,
                "speaker_mention": mention,
                "kind": kind,
                "style": style,
                "tags": [style],
                "start": start,
                "end": start + len(quote),
            }
        )
        pos = start + len(quote)
    for n, _ in a["non_quotes"]:
        assert n in text
    out.append(
        {
            "id": a["id"],
            "title": a["title"],
            "beat": a["beat"],
            "marks": a["marks"],
            "text": text,
            "quotes": quotes,
            "non_quotes": [n for n, _ in a["non_quotes"]],
            "non_quote_types": [t for _, t in a["non_quotes"]],
        }
    )
with open(Path(__file__).with_name("gold.jsonl"), "w", encoding="utf-8") as f:
    for r in out:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(out), sum(len(r["quotes"]) for r in out))
