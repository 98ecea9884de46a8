"""The README's Python session runs as written and prints what it shows."""

import doctest
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_session():
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README lost its Python session"
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for i, block in enumerate(blocks):
        runner.run(parser.get_doctest(block, {}, f"README block {i}", str(README), 0))
    result = runner.summarize(verbose=False)
    assert result.attempted > 5 and result.failed == 0


def test_readme_gives_the_two_commands():
    text = README.read_text()
    assert "pip install .\nnnlearn train" in text
    assert "pip install '.[dev]'\npytest" in text


README_JA = README.with_name("README.ja.md")


def test_japanese_readme_gives_the_same_commands_and_links_the_notebook():
    text = README_JA.read_text()
    assert "pip install .\nnnlearn train" in text
    assert "pip install '.[dev]'\npytest" in text
    assert "(examples/chapter4_ja.ipynb)" in text and (README.parent / "examples" / "chapter4_ja.ipynb").is_file()
    assert "README.ja.md" in README.read_text()


def test_japanese_readme_python_session():
    block = re.findall(r"```python\n(.*?)```", README_JA.read_text(), flags=re.S)[0]
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(doctest.DocTestParser().get_doctest(block, {}, "README.ja", str(README_JA), 0))
    result = runner.summarize(verbose=False)
    assert result.attempted >= 5 and result.failed == 0
