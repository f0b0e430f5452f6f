"""spaCy's attribute ruler, compiled: the same annotations in a sixth of its time.

The English pipeline's `attribute_ruler` maps tags to parts of speech and morphology
with 179 Matcher patterns, and spaCy's Matcher tries every one of them at every token:
about 13 % of the whole analysis (docs/performance.md). Its patterns are single tokens
or fixed runs of a few, with equalities and IN / NOT_IN / REGEX tests on a handful of
attributes, so they are compiled here into lookups indexed by an equality or IN test of
their first token, and matched over `doc.to_array` columns; what the single-token ones
give a token is kept by its attributes, which most tokens of a text share with others.

The semantics are the ruler's own (AttributeRuler.match and set_annotations): every
pattern is matched on the Doc as it came in, and the matches are applied in the order
the ruler's patterns were added, each through spaCy's `set_token_attrs` with the ruler's
own normalised attributes. A ruler with anything else (operators, other attributes,
other predicates) is left as spaCy made it: compile_attribute_rules returns None.
"""

import re
from dataclasses import dataclass, field

from spacy.attrs import IDS
from spacy.language import Language
from spacy.strings import get_string_id
from spacy.tokens._retokenize import set_token_attrs

# Token attributes whose Matcher value is the one doc.to_array gives (a hash or a flag),
# the ones that single out fewest tokens first (TokenTest.index_keys).
MATCHED_ATTRIBUTES = ("ORTH", "LOWER", "NORM", "TAG", "POS", "DEP", "IS_SPACE")
SET_TESTS = ("IN", "NOT_IN")
KNOWN_ROWS = 100_000  # token attribute rows whose single-token matches are kept
FACTORY = "newsbeam_compiled_attribute_ruler"


@dataclass(frozen=True)
class TokenTest:
    """One pattern token: attribute column -> value it must equal, and the other tests."""

    equal: tuple = ()  # ((column, value), ...)
    within: tuple = ()  # ((column, frozenset), ...): IN
    outside: tuple = ()  # ((column, frozenset), ...): NOT_IN
    regexes: tuple = ()  # ((column, compiled), ...): REGEX, searched in the string

    def holds(self, row: tuple, strings) -> bool:
        for column, value in self.equal:
            if row[column] != value:
                return False
        for column, values in self.within:
            if row[column] not in values:
                return False
        for column, values in self.outside:
            if row[column] in values:
                return False
        for column, regex in self.regexes:
            if not regex.search(strings[row[column]]):
                return False
        return True

    def index_keys(self) -> list[tuple[int, int]]:
        """The (column, value) pairs one of which a matching token has: those of its
        equality or IN test on the column that singles out fewest tokens; none when it
        has neither (then it is tried at every token)."""
        tests = [(column, False, (value,)) for column, value in self.equal]
        tests += [(column, True, tuple(values)) for column, values in self.within]
        if not tests:
            return []
        column, _, values = min(tests)
        return [(column, value) for value in values]


@dataclass(frozen=True)
class Alternative:
    """One pattern of a rule: its tokens, and the one of them the rule's attributes go to."""

    rule: int  # the ruler's pattern number: matches apply in this order
    tokens: tuple  # (TokenTest, ...)
    target: int  # 0 <= target < len(tokens)


@dataclass
class RuleIndex:
    """Alternatives indexed by an equality or IN test of their first token."""

    indexed: dict = field(default_factory=dict)  # (column, value) -> [Alternative]
    unindexed: list = field(default_factory=list)  # [Alternative] tried at every token
    index_columns: list = field(default_factory=list)  # the columns of `indexed`'s keys

    def add(self, alternative: Alternative) -> None:
        keys = alternative.tokens[0].index_keys()
        for key in keys:
            self.indexed.setdefault(key, []).append(alternative)
            if key[0] not in self.index_columns:
                self.index_columns.append(key[0])
        if not keys:
            self.unindexed.append(alternative)

    def hits(self, rows: list, start: int, strings) -> list[tuple[int, int]]:
        """(rule, token) of the alternatives that match from token `start` on."""
        row, found = rows[start], []
        candidates: list = []
        for column in self.index_columns:
            candidates.extend(self.indexed.get((column, row[column]), ()))
        for alternative in candidates + self.unindexed if self.unindexed else candidates:
            tokens = alternative.tokens
            if start + len(tokens) > len(rows):
                continue
            for offset, test in enumerate(tokens):
                if not test.holds(rows[start + offset], strings):
                    break
            else:
                found.append((alternative.rule, start + alternative.target))
        return found


@dataclass
class CompiledRules:
    """The ruler's patterns: the single-token ones, whose matches depend on a token's own
    attributes only, and the runs of several tokens."""

    columns: list  # attribute ids, in doc.to_array's column order
    attrs: list  # the ruler's normalised attributes, one per rule
    single: RuleIndex = field(default_factory=RuleIndex)
    runs: RuleIndex = field(default_factory=RuleIndex)
    # A token's attributes -> the single-token rules it matches: most tokens of a text repeat
    # attributes seen before. Emptied when full, so it stays bounded whatever the input.
    known_rows: dict = field(default_factory=dict)

    def matches(self, doc) -> list[tuple[int, int]]:
        """(rule, token) for every match, in the order the ruler applies them."""
        rows = doc.to_array(self.columns).tolist() if len(doc) else []
        strings, known_rows = doc.vocab.strings, self.known_rows
        has_runs = bool(self.runs.indexed or self.runs.unindexed)
        hits: list[tuple[int, int]] = []
        for start, row in enumerate(rows):
            key = tuple(row)
            rules = known_rows.get(key)
            if rules is None:
                rules = tuple({rule for rule, _ in self.single.hits(rows, start, strings)})
                if len(known_rows) >= KNOWN_ROWS:
                    known_rows.clear()
                known_rows[key] = rules
            hits.extend((rule, start) for rule in rules)
            if has_runs:
                hits.extend(self.runs.hits(rows, start, strings))
        return sorted(set(hits))

    def __call__(self, doc):
        for rule, token in self.matches(doc):
            set_token_attrs(doc[token], self.attrs[rule])
        return doc


def value_id(value) -> int:
    """A pattern value as the Matcher compares it: a string's hash, a flag's 0 or 1."""
    return int(value) if isinstance(value, (bool, int)) else get_string_id(value)


def compile_token(spec: dict, columns: list) -> TokenTest | None:
    equal: list = []
    within: list = []
    outside: list = []
    regexes: list = []
    for name, value in spec.items():
        if name not in MATCHED_ATTRIBUTES:
            return None
        column = columns.index(IDS[name])
        if not isinstance(value, dict):
            equal.append((column, value_id(value)))
            continue
        for test, argument in value.items():
            if test in SET_TESTS and isinstance(argument, (list, tuple)):
                bucket = within if test == "IN" else outside
                bucket.append((column, frozenset(value_id(v) for v in argument)))
            elif test == "REGEX" and isinstance(argument, str):
                regexes.append((column, re.compile(argument)))
            else:
                return None
    return TokenTest(tuple(equal), tuple(within), tuple(outside), tuple(regexes))


def compile_attribute_rules(ruler) -> CompiledRules | None:
    """The ruler's patterns compiled, or None when one of them needs the Matcher itself."""
    columns = [IDS[name] for name in MATCHED_ATTRIBUTES]
    compiled = CompiledRules(columns=columns, attrs=list(ruler.attrs))
    for rule, (alternatives, index) in enumerate(
        (ruler.matcher.get(str(number))[1], ruler.indices[number]) for number in range(len(ruler.attrs))
    ):
        for pattern in alternatives:
            compiled_tokens = [compile_token(spec, columns) for spec in pattern]
            tokens = [token for token in compiled_tokens if token is not None]
            if not tokens or len(tokens) < len(compiled_tokens) or not -len(tokens) <= index < len(tokens):
                return None
            alternative = Alternative(rule, tuple(tokens), index % len(tokens))
            (compiled.single if len(tokens) == 1 else compiled.runs).add(alternative)
    return compiled


def make_compiled_ruler(nlp, name: str):
    """The factory: the pipeline's own `attribute_ruler`, compiled (it must compile)."""
    compiled = compile_attribute_rules(nlp.get_pipe("attribute_ruler"))
    if compiled is None:
        raise ValueError("the attribute ruler has patterns only spaCy's Matcher can match")
    return compiled


def use_compiled_attribute_ruler(nlp) -> bool:
    """Put the compiled ruler in place of the pipeline's `attribute_ruler`, under its name,
    when all its patterns compile. Returns whether it did."""
    if "attribute_ruler" not in nlp.pipe_names or compile_attribute_rules(nlp.get_pipe("attribute_ruler")) is None:
        return False
    if not Language.has_factory(FACTORY):
        Language.factory(FACTORY, func=make_compiled_ruler)
    nlp.add_pipe(FACTORY, name=FACTORY, after="attribute_ruler")
    nlp.remove_pipe("attribute_ruler")
    nlp.rename_pipe(FACTORY, "attribute_ruler")
    return True
