"""The tables a stream writes from its deduplicated articles: articles and (with
NLP) entities and quotes, per window. (Batch runs write analysed articles in
checkpoints: transforms/sinks/checkpoints.py.)"""

import apache_beam as beam

from schemas.tables import ARTICLES, ENTITIES, QUOTES
from transforms.metrics import count
from transforms.nlp.inference import ExtractEntitiesAndQuotes
from transforms.sinks.write import WriteTable


def is_winner(article: dict) -> bool:
    return article.get("duplicate_of") is None


class AnalyseAndWrite(beam.PTransform):
    """Deduplicated articles (winners, and duplicates pointing at them) -> the tables;
    returns {"rejects": the NLP rejects (empty without NLP), "written": what the
    writers output, one PCollection}.

    Only winners get NLP. `write` is WriteTable (one file per partition per window).
    """

    def __init__(
        self, output_dir: str, run_id: str, nlp: bool, spacy_model: str | None, nlp_batch_chars: int, write=WriteTable
    ):
        super().__init__()
        self.output_dir, self.run_id, self.write = output_dir, run_id, write
        self.nlp, self.spacy_model, self.nlp_batch_chars = nlp, spacy_model, nlp_batch_chars

    def expand(self, articles):
        output_dir, run_id, write = self.output_dir, self.run_id, self.write
        written = [articles | "WriteArticles" >> write(ARTICLES, output_dir, run_id)]
        if not self.nlp:  # an empty PCollection windowed like the articles
            return {"rejects": articles | "NoNlpRejects" >> beam.FlatMap(lambda _: []), "written": written[0]}
        winners = articles | "Winners" >> beam.Filter(is_winner)
        entities, quotes, nlp_rejects = winners | "NLP" >> ExtractEntitiesAndQuotes(
            self.spacy_model, self.nlp_batch_chars
        )
        written.append(entities | "WriteEntities" >> write(ENTITIES, output_dir, run_id))
        written.append(quotes | "WriteQuotes" >> write(QUOTES, output_dir, run_id))
        return {
            "rejects": nlp_rejects | "CountNlpFailures" >> count("nlp_failures"),
            "written": written | "AllWritten" >> beam.Flatten(),
        }
