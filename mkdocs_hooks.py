"""MkDocs hook: the site's home page is README.md itself (its `docs/` links made relative), generated at
build time, so the repository's front page and the site's never drift apart."""

from pathlib import Path

from mkdocs.structure.files import File

README = Path(__file__).parent / "README.md"


def on_files(files, config):
    files.append(File.generated(config, "index.md", content=README.read_text(encoding="utf-8").replace("](docs/", "](")))
    return files
