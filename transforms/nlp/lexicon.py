"""The words the entity and quote rules share, in one place.

Entities (`transforms/nlp/entities.py`) and quotes (`transforms/nlp/quotes/`) read the same
lists: what counts as a name, an honorific or title, a verb of speech. Lists only one of
them uses live here too, so a word is added once and both rules see it.
"""

# ---------------------------------------------------------------- names

# Labels that name something, in the English (OntoNotes) and the other languages' (WikiNER:
# PER, LOC, ORG, MISC) schemes; numbers, dates and amounts keep their own text.
NAME_LABELS = frozenset(
    {"PERSON", "ORG", "GPE", "NORP", "FAC", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE", "PER", "MISC"}
)
# Words that decorate a name without being part of it.
HONORIFICS = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "dame", "lord", "lady", "rev", "fr", "st"}
)
LEADING_ARTICLES = frozenset({"the", "a", "an"})
# Titles and roles written before a person's name ("Mayor Patricia Lindell", "Sen. X"); they are
# dropped from the canonical name of a PERSON. MODIFIERS count only before a title
# ("state Senator", "Foreign Minister", "Chief Executive").
PERSON_TITLES = frozenset(
    """
president vice-president president-elect premier minister senator sen rep representative
congressman congresswoman gov governor mayor cllr councillor councilor councilman councilwoman
alderman judge justice magistrate chancellor secretary ambassador commissioner chairman
chairwoman chair director executive ceo coach manager captain capt officer detective det
inspector insp sergeant sgt constable pc superintendent supt chief general gen colonel col
lieutenant lt major maj admiral adm commander cmdr corporal cpl private pvt marshal sheriff
king queen prince princess pope cardinal bishop archbishop rabbi imam pastor reverend sheikh
emir sultan speaker leader attorney prosecutor spokesman spokeswoman spokesperson
professor dean principal editor founder
""".split()
)
TITLE_MODIFIERS = frozenset(
    """
vice deputy acting interim former prime state foreign finance defence defense interior home
health education justice environment trade energy culture transport labour labor opposition
minority majority house senate district county city chief executive managing assistant
associate lord first grand supreme high circuit appeals police fire head general senior
of staff
""".split()
)
# Words that make a capitalised name an organisation or a place, not a person.
ORG_NAME_WORDS = frozenset(
    """
union council ministry bank agency inc ltd llc plc corp co corporation company group party
university college school academy institute institution foundation trust association society
committee commission department office court board authority federation league club team
church hospital clinic museum library airlines airline airways energy holdings partners capital
media news times post journal herald tribune network systems technologies technology labs
services service police army navy force forces guard government administration parliament
congress senate assembly house city county state republic kingdom province district region
festival fund reserve exchange market markets motors industries international global national
centre center street road avenue square park bridge river lake mountain island airport station
hotel church cathedral stadium arena space rail railway railways advisory securities
""".split()
)
# Last words that make a name an organisation's whatever the tagger says ("Kessick Port
# Holdings" tagged PERSON): company and institution suffixes, not words that are also surnames.
ORG_SUFFIXES = frozenset(
    """
holdings inc ltd llc plc corp corporation company co group partners industries technologies
systems airlines airways bank union council ministry agency university institute foundation
association authority commission committee department federation party space rail railway
railways advisory securities
""".split()
)
# Last words that make a name a place's whatever the tagger says ("Carrick Bay" tagged PERSON).
PLACE_SUFFIXES = frozenset(
    """
bay heights highlands hills valley springs harbour harbor island islands creek beach cove estuary
peninsula county district
""".split()
)
# Nouns that describe a person's role, for appositions ("Its director, Helena Marsh").
ROLE_NOUNS = PERSON_TITLES | frozenset(
    """
head lawyer analyst economist official resident owner teacher student farmer researcher
scientist doctor nurse author writer actor actress singer player striker midfielder defender
goalkeeper candidate campaigner activist adviser advisor aide deputy member worker employee
mother father son daughter wife husband brother sister friend neighbour neighbor witness
victim survivor expert historian politician lawmaker legislator diplomat negotiator organiser
organizer volunteer vicar priest boss founder co-founder chef pilot driver engineer consultant
""".split()
)

# ---------------------------------------------------------------- speech

# Lemmas of verbs of saying: their subject speaks (a quote cue, and evidence that a name
# used as their subject is a speaker).
SPEECH_VERBS = frozenset(
    """
say tell add state claim declare announce explain insist argue warn write reply respond answer
ask acknowledge admit concede confirm deny suggest predict promise vow complain stress recall
remark comment observe testify tweet post
""".split()
)
# Cue verbs: the verbs of saying, and verbs that attribute words without being sure signs of a
# person ("the court ruled", "the study found", "the two firms agreed").
CUE_VERBS = SPEECH_VERBS | frozenset(
    """
call describe urge note pledge accuse allege contend maintain assert emphasise emphasize report
quip joke boast agree conclude find reveal caution criticise criticize praise label term
characterise characterize recount counter retort interject exclaim shout cry whisper mutter
plead demand instruct rule insinuate lament question dismiss decry condemn blast slam hail tout
concur disagree brand dub
""".split()
)

# French verbs of saying and of naming (infinitives). The small French model leaves some forms
# unlemmatised ("estime"), so the 3rd-person present and past participle of each count too.
FRENCH_CUE_VERBS_INFINITIVE = frozenset(
    """
déclarer affirmer dire estimer ajouter expliquer souligner indiquer assurer préciser annoncer
confier répondre insister rappeler avertir prévenir juger reconnaître admettre dénoncer écrire
raconter poursuivre conclure promettre marteler déplorer regretter lancer confirmer démentir
nier avouer menacer plaider tweeter résumer ironiser fustiger critiquer accuser observer noter
commenter répliquer rétorquer exclamer demander qualifier témoigner
""".split()
)
FRENCH_IRREGULAR_FORMS = frozenset(
    """
dit disent écrit écrivent poursuit conclut reconnaît reconnaissent admet promet répond avertit
prévient
""".split()
)
FRENCH_CUE_VERBS = (
    FRENCH_CUE_VERBS_INFINITIVE
    | FRENCH_IRREGULAR_FORMS
    | frozenset(
        form
        for verb in FRENCH_CUE_VERBS_INFINITIVE
        if verb.endswith("er")
        for form in (verb[:-2] + "e", verb[:-2] + "ent", verb[:-2] + "é")
    )
)
# Cue verbs by spaCy language code (`doc.lang_`); other languages use the English list.
CUE_VERBS_BY_LANGUAGE = {"en": CUE_VERBS, "fr": FRENCH_CUE_VERBS}
# "according to X" and its equivalents, as lower-case token sequences.
ACCORDING_TO = (("according", "to"), ("selon",), ("d’", "après"), ("d'", "après"))

# ---------------------------------------------------------------- quotes: cues and non-speech

# Verbs that are cues only with a particle ("shot back", "pointed out").
PARTICLE_CUES = frozenset({("shoot", "back"), ("fire", "back"), ("hit", "back"), ("point", "out")})
IRREGULAR_FORMS = {"shot": "shoot", "fired": "fire", "hits": "hit", "pointed": "point"}
# Naming verbs that are cues only with an active subject ("she called it 'X'", not "a film called 'X'").
NAMING_LEMMAS = frozenset({"call", "name", "term", "label", "brand", "dub", "qualifier"})
# Audiences that belong to the cue ("told reporters").
AUDIENCE_WORDS = frozenset(
    {
        "reporters",
        "journalists",
        "the court",
        "the press",
        "the media",
        "analysts",
        "investors",
        "parliament",
        "the committee",
        "the jury",
        "lawmakers",
        "legislators",
        "the crowd",
        "supporters",
        "the bbc",
    }
)
# Phrases right before a quote that make it a name or a scare quote, not speech.
NAMING_PHRASES = (
    "so-called",
    "so called",
    "known as",
    "dubbed",
    "nicknamed",
    "titled",
    "entitled",
    "the word",
    "the term",
    "the phrase",
    "the slogan",
    "code",
    "hashtag",
    "headlined",
    "branded as",
    "billed as",
    "marketed as",
)
# Nouns that make a quoted title ("the podcast 'Load Balancing'").
WORK_NOUNS = frozenset(
    {
        "book",
        "film",
        "movie",
        "series",
        "show",
        "podcast",
        "documentary",
        "song",
        "album",
        "novel",
        "play",
        "programme",
        "program",
        "petition",
        "campaign",
        "report",
        "paper",
        "study",
        "article",
        "column",
        "exhibition",
        "title",
        "drama",
        "opera",
        "musical",
        "poem",
        "magazine",
        "newspaper",
        "headline",
        "essay",
        "editorial",
        "op-ed",
        "episode",
        "chapter",
        "slogan",
        "motto",
        "mantra",
        "hashtag",
        "banner",
        "caption",
        "nickname",
        "exhibit",
        "app",
        "brand",
        "label",
        "logo",
        "tagline",
        "headlines",
        "titles",
        "slogans",
        "chant",
        "refrain",
        "sign",
        "placard",
    }
)

# Nouns of someone's words that a quote can stand beside ("Her verdict — "…" —", "His answer:").
WORDS_NOUNS = frozenset(
    {
        "verdict",
        "answer",
        "reply",
        "response",
        "message",
        "warning",
        "words",
        "assessment",
        "description",
        "retort",
        "comment",
        "view",
        "advice",
        "plea",
    }
)
# "a term X used": the quoted words are X's (nouns, and the verbs of their relative clause).
TERM_NOUNS = frozenset({"term", "phrase", "word", "expression", "label", "description", "slogan"})
TERM_VERBS = frozenset({"use", "coin", "favour", "favor", "prefer", "employ", "repeat", "call", "give"})

# ---------------------------------------------------------------- quotes: speakers

# `speaker_label` of an unnamed group of people speaking ("police", "officials", "residents").
GROUP_LABEL = "GROUP"
# Singular nouns that name a group of people (plural nouns are groups by their number).
GROUP_NOUNS = frozenset({"police", "staff", "crew", "personnel", "management", "family", "public"})
PERSON_PRONOUNS = frozenset({"he", "she", "him", "her", "i", "me", "il", "elle"})
GROUP_PRONOUNS = frozenset({"it", "they", "we", "them", "us", "ils", "elles", "nous"})
RELATIVE_PRONOUNS = frozenset({"who", "which", "that", "whom"})
MALE_WORDS = frozenset(
    {
        "he",
        "him",
        "il",
        "his",
        "himself",
        "mr",
        "sir",
        "lord",
        "spokesman",
        "chairman",
        "congressman",
        "businessman",
        "father",
        "son",
        "husband",
        "brother",
        "king",
        "prince",
    }
)
FEMALE_WORDS = frozenset(
    {
        "she",
        "her",
        "elle",
        "mme",
        "hers",
        "herself",
        "ms",
        "mrs",
        "miss",
        "dame",
        "lady",
        "spokeswoman",
        "chairwoman",
        "congresswoman",
        "businesswoman",
        "mother",
        "daughter",
        "wife",
        "sister",
        "queen",
        "princess",
    }
)
# Nouns that stand for an organisation's voice: "a spokesperson for X", "a report by X".
VOICE_NOUNS = frozenset(
    {
        "spokesperson",
        "spokesman",
        "spokeswoman",
        "representative",
        "statement",
        "report",
        "ruling",
        "judgment",
        "judgement",
        "decision",
        "study",
        "paper",
        "letter",
        "filing",
        "release",
        "post",
        "website",
        "memo",
        "document",
        "review",
        "audit",
        "survey",
        "analysis",
        "announcement",
        "verdict",
        "opinion",
        "order",
        "spokespeople",
    }
)
DOCUMENT_NOUNS = VOICE_NOUNS - {"spokesperson", "spokesman", "spokeswoman", "representative", "spokespeople"}
ORG_NOUNS = frozenset(
    """
company firm group agency council ministry department government administration authority
commission committee court union federation association organisation organization institute
university bank board party team club festival embassy office airline carrier utility
regulator police army military charity operator school hospital network broadcaster
newspaper daily startup maker manufacturer retailer insurer lender foundation trust
corporation business service services bureau parliament congress senate league society
museum council's agency's
""".split()
)
# Small words a title of a work leaves in lower case ("Night of the Hunter").
TITLE_SMALL_WORDS = frozenset(
    {"of", "the", "a", "an", "and", "in", "on", "at", "for", "to", "by", "with", "from", "or", "de", "la", "du"}
)
# Words whose dot does not end a sentence.
ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "jr",
        "sr",
        "gov",
        "sen",
        "rep",
        "gen",
        "col",
        "lt",
        "capt",
        "sgt",
        "prof",
        "no",
        "inc",
        "co",
        "corp",
        "ltd",
        "vs",
        "v",
        "u.s",
        "u.k",
        "d.c",
        "e.g",
        "i.e",
        "mt",
        "ft",
        "jan",
        "feb",
        "aug",
        "sept",
        "oct",
        "nov",
        "dec",
        "rev",
        "fr",
        "messrs",
        "approx",
    }
)
