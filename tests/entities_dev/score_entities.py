"""Scores entity extraction against gold.jsonl (next to this file; see build_gold.py).

Only PERSON, ORG and LOC mentions count: the common labels (transforms/nlp/labels.py) of what
the extractor returns, so GPE, LOC and FAC are all LOC and NORP, events or products are left out
on both sides. A predicted span is right when its offsets equal a gold span's after a leading
"the " is dropped from both (whether "the" belongs to "the United States" is a convention, not
an error). Span precision/recall/F1 count spans whatever their label; label precision is the
share of right spans whose label is the gold label (or its `also` label); labelled F1 asks for
both. Run it for the table: .venv/bin/python tests/entities_dev/score_entities.py"""

import json
import sys
from pathlib import Path

GOLD = Path(__file__).resolve().parent / "gold.jsonl"
SCORED_LABELS = ("PERSON", "ORG", "LOC")
LEADING_ARTICLE = ("the ", "The ")


def load_gold(path: Path = GOLD) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def span_key(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) without a leading "the " and surrounding whitespace."""
    piece = text[start:end]
    for article in LEADING_ARTICLE:
        if piece.startswith(article) and len(piece) > len(article):
            start += len(article)
            piece = piece[len(article) :]
    start += len(piece) - len(piece.lstrip())
    end -= len(piece) - len(piece.rstrip())
    return start, end


def scored_mentions(text: str, rows: list[dict], label_of=lambda row: row["label"]) -> dict:
    """span key -> set of acceptable labels, for the rows whose label is scored."""
    out: dict = {}
    for row in rows:
        label = label_of(row)
        if label in SCORED_LABELS:
            out.setdefault(span_key(text, row["start"], row["end"]), set()).add(label)
    return out


def gold_mentions(record: dict) -> dict:
    return {
        span_key(record["text"], m["start"], m["end"]): {m["label"], m.get("also", m["label"])}
        for m in record["mentions"]
    }


def predicted_mentions(record: dict, entity_rows: list[dict]) -> dict:
    from transforms.nlp.labels import common_label

    return scored_mentions(record["text"], entity_rows, lambda row: common_label(row["label"]))


def ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def score(gold: dict, predicted: dict) -> dict:
    """gold, predicted: article id -> {span key: labels}. Counts and figures over all articles;
    `by_label` has span precision (by predicted label) and recall (by gold label) per label."""
    counts = {"gold": 0, "predicted": 0, "matched": 0, "label_right": 0}
    by_label = {
        label: {"gold": 0, "predicted": 0, "matched_gold": 0, "matched_predicted": 0} for label in SCORED_LABELS
    }
    errors = []
    for article_id, gold_spans in gold.items():
        predicted_spans = predicted.get(article_id, {})
        counts["gold"] += len(gold_spans)
        counts["predicted"] += len(predicted_spans)
        for _span, labels in gold_spans.items():
            by_label[sorted(labels)[0] if len(labels) == 1 else first_label(labels)]["gold"] += 1
        for span, labels in predicted_spans.items():
            label = next(iter(labels))
            by_label[label]["predicted"] += 1
            if span in gold_spans:
                counts["matched"] += 1
                by_label[label]["matched_predicted"] += 1
                if labels & gold_spans[span]:
                    counts["label_right"] += 1
                else:
                    errors.append((article_id, span, "label", label, sorted(gold_spans[span])))
            else:
                errors.append((article_id, span, "not in gold", label, None))
        for span, labels in gold_spans.items():
            if span in predicted_spans:
                by_label[first_label(labels)]["matched_gold"] += 1
            else:
                errors.append((article_id, span, "missed", None, sorted(labels)))
    precision, recall = ratio(counts["matched"], counts["predicted"]), ratio(counts["matched"], counts["gold"])
    labelled_p = ratio(counts["label_right"], counts["predicted"])
    labelled_r = ratio(counts["label_right"], counts["gold"])
    return {
        **counts,
        "span_precision": precision,
        "span_recall": recall,
        "span_f1": f1(precision, recall),
        "label_precision": ratio(counts["label_right"], counts["matched"]),
        "labelled_f1": f1(labelled_p, labelled_r),
        "by_label": {
            label: {
                "precision": ratio(c["matched_predicted"], c["predicted"]),
                "recall": ratio(c["matched_gold"], c["gold"]),
                **c,
            }
            for label, c in by_label.items()
        },
        "errors": errors,
    }


def first_label(labels: set) -> str:
    """The main label of a gold mention (the first of SCORED_LABELS it allows)."""
    return next(label for label in SCORED_LABELS if label in labels)


def predict(nlp, records: list[dict]) -> dict:
    """article id -> predicted span keys, from extract_entities over the model's Docs."""
    from transforms.nlp.entities import extract_entities

    return {
        record["id"]: predicted_mentions(record, extract_entities(doc))
        for record, doc in zip(records, nlp.pipe(r["text"] for r in records))
    }


def evaluate(nlp, path: Path = GOLD) -> dict:
    records = load_gold(path)
    return score({r["id"]: gold_mentions(r) for r in records}, predict(nlp, records))


def table(result: dict) -> str:
    lines = [f"{'':8} {'P':>6} {'R':>6} {'gold':>5} {'pred':>5}"]
    for label, c in result["by_label"].items():
        lines.append(f"{label:8} {c['precision']:6.3f} {c['recall']:6.3f} {c['gold']:5d} {c['predicted']:5d}")
    lines.append(
        f"{'all':8} {result['span_precision']:6.3f} {result['span_recall']:6.3f} "
        f"{result['gold']:5d} {result['predicted']:5d}"
    )
    lines.append(
        f"span P/R/F1 {result['span_precision']:.3f}/{result['span_recall']:.3f}/"
        f"{result['span_f1']:.3f}  label precision {result['label_precision']:.3f}  "
        f"labelled F1 {result['labelled_f1']:.3f}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from transforms.nlp.inference import load_spacy_model

    records = load_gold()
    outcome = evaluate(load_spacy_model())
    if "-v" in sys.argv:
        texts = {r["id"]: r["text"] for r in records}
        for article_id, (start, end), kind, predicted_label, gold_labels in outcome["errors"]:
            print(f"{article_id:24} {kind:12} {texts[article_id][start:end]!r} {predicted_label} {gold_labels}")
    print(table(outcome))
