"""Pairing quotation marks (transforms/nlp/quotes/spans.py): plain text in, spans out, no spaCy."""

from transforms.nlp.quotes.spans import find_quote_spans, paragraph_ranges


def quoted(text: str) -> list[str]:
    return [text[s.start : s.end] for s in find_quote_spans(text, paragraph_ranges(text))]


def test_straight_and_curly_pairs():
    assert quoted('"We will rebuild," she said. “Not now,” he said.') == ["We will rebuild,", "Not now,"]


def test_apostrophes_possessives_and_measurements_open_nothing():
    text = "It's the players' union at Jones' house; the 6'2\" centre is 5'11\" in socks."
    assert quoted(text) == []


def test_odd_mark_gives_no_quote():
    assert quoted('She said "the plan is dead and left.') == []


def test_british_single_outside_double_inside():
    text = "‘He told me “never again” and left,’ said Marsh. ‘It’s over,’ she added."
    assert quoted(text) == ["He told me “never again” and left,", "It’s over,"]


def test_multi_paragraph_quote_runs_to_paragraph_end():
    text = '"The first part runs on.\n\n"And the second part closes," she said.'
    spans = find_quote_spans(text, paragraph_ranges(text))
    assert [text[s.start : s.end] for s in spans] == ["The first part runs on.", "And the second part closes,"]
    assert spans[0].close_at is None and spans[0].continues and spans[1].continuation


def test_hard_wrapped_lines_are_one_paragraph():
    text = (
        'The minister said the plan was "dead in the\nwater" and would be replaced by a new one\n'
        "within the year, before the budget was set for the\nnext parliament and its committees."
    )
    assert len(paragraph_ranges(text)) == 1
    assert quoted(text) == ["dead in the\nwater"]


def test_french_guillemets_with_no_break_and_thin_spaces():
    text = "Il a dit\u202f: «\u202fNous partirons.\u202f» Puis « Jamais » et «\u00a0demain\u00a0»."
    assert quoted(text) == ["Nous partirons.", "Jamais", "demain"]


def test_german_low_marks_open_and_high_marks_close():
    text = "„Wir schaffen das“, sagte sie. Er nannte es ‚unmöglich‘ und ging."
    assert quoted(text) == ["Wir schaffen das", "unmöglich"]


def test_german_nested_single_inside_double():
    text = "„Er sagte ‚nie wieder‘ und ging“, berichtete sie."
    assert quoted(text) == ["Er sagte ‚nie wieder‘ und ging"]


def test_corner_brackets_with_no_spaces_around():
    text = "首相は「増税はしない」と述べた。「『未来』のためだ」と続けた。"
    assert quoted(text) == ["増税はしない", "『未来』のためだ"]
