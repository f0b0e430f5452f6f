"""The tables every run writes from its deduplicated articles: articles, signatures,
and (with NLP) entities and quotes. Shared by the batch and the streaming graph."""
import apache_beam as beam

from schemas.tables import ARTICLES, ENTITIES, QUOTES, SIGNATURES
from transforms.metrics import count
from transforms.near_duplicates import signature_row
from transforms.nlp import ExtractEntitiesAndQuotes
from transforms.write import WriteTable


class AnalyseAndWrite(beam.PTransform):
    """(winners, duplicates) -> the tables; returns the NLP rejects (empty without NLP).

    Only winners get signatures and NLP; duplicates are written pointing at them.
    """

    def __init__(self, output_dir: str, run_id: str, nlp: bool, spacy_model: str | None, nlp_batch_size: int):
        super().__init__()
        self.output_dir, self.run_id = output_dir, run_id
        self.nlp, self.spacy_model, self.nlp_batch_size = nlp, spacy_model, nlp_batch_size

    def expand(self, winners_and_duplicates):
        winners, duplicates = winners_and_duplicates
        output_dir, run_id = self.output_dir, self.run_id
        ((winners, duplicates) | "ArticleRows" >> beam.Flatten()
         | "WriteArticles" >> WriteTable(ARTICLES, output_dir, run_id))
        (winners | "Signatures" >> beam.Map(signature_row)
         | "WriteSignatures" >> WriteTable(SIGNATURES, output_dir, run_id))
        if not self.nlp:  # an empty PCollection windowed like the winners
            return winners | "NoNlpRejects" >> beam.FlatMap(lambda _: [])
        entities, quotes, nlp_rejects = winners | "NLP" >> ExtractEntitiesAndQuotes(
            self.spacy_model, self.nlp_batch_size)
        entities | "WriteEntities" >> WriteTable(ENTITIES, output_dir, run_id)
        quotes | "WriteQuotes" >> WriteTable(QUOTES, output_dir, run_id)
        return nlp_rejects | "CountNlpFailures" >> count("nlp_failures")
