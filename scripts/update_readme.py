"""Regenerate the README's generated parts: the table reference and docs/ includes."""

import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from schemas.docs import BEGIN, END, tables_markdown  # noqa: E402

INCLUDE = re.compile(r"(<!-- include:(?P<path>[^ ]+) -->\n)(?P<body>.*?)(<!-- /include -->)", re.S)


def with_includes(readme: str) -> str:
    def body(match):
        with open(os.path.join(REPO, match.group("path")), encoding="utf-8") as handle:
            return match.group(1) + handle.read().rstrip("\n") + "\n" + match.group(4)

    return INCLUDE.sub(body, readme)


def with_tables(readme: str) -> str:
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + tables_markdown() + tail


def generated(readme: str) -> str:
    return with_includes(with_tables(readme))


if __name__ == "__main__":
    path = os.path.join(REPO, "README.md")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(generated(text))
