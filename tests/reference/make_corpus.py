#!/usr/bin/env python3
"""Builds the small model's training corpus from a freely licensed Debian package: the English paragraphs of
"The Debian Administrator's Handbook" (package debian-handbook; GPL-2.0+ or CC-BY-SA-3.0, Raphaël Hertzog, Roland Mas).

Usage: make_corpus.py OUT.txt   (downloads the package with apt-get into a temporary folder; needs no root)
Paragraph text only, whitespace normalised, one paragraph a line; code, tables and navigation dropped.
"""
import html.parser
import pathlib
import re
import subprocess
import sys
import tempfile


class Paragraphs(html.parser.HTMLParser):
    """Text of each <div class="para"> (the handbook's paragraphs), inline markup kept as text, <pre> and tables dropped."""

    SKIP = ("pre", "table", "script", "style")

    def __init__(self):
        super().__init__()
        self.para_depth = 0   # open <div>s since the paragraph's own <div class="para">, itself included
        self.skip_depth = 0
        self.current = []
        self.out = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip_depth += 1
        if tag == "div":
            if self.para_depth:
                self.para_depth += 1
            elif dict(attrs).get("class") == "para":
                self.para_depth = 1
                self.current = []

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skip_depth:
            self.skip_depth -= 1
        if tag == "div" and self.para_depth:
            self.para_depth -= 1
            if self.para_depth == 0:
                text = re.sub(r"\s+", " ", "".join(self.current)).strip()
                if len(text) > 40 and text.count(" ") > 6:
                    self.out.append(text)

    def handle_data(self, data):
        if self.para_depth and not self.skip_depth:
            self.current.append(data)


def main():
    out = pathlib.Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "-qq", "debian-handbook"], cwd=tmp, check=True)
        deb = next(pathlib.Path(tmp).glob("debian-handbook_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), tmp + "/x"], check=True)
        pages = sorted(pathlib.Path(tmp, "x/usr/share/doc/debian-handbook/html/en-US").glob("*.html"))
        paragraphs = []
        for page in pages:
            parser = Paragraphs()
            parser.feed(page.read_text(encoding="utf-8"))
            paragraphs.extend(parser.out)
    out.write_text("\n".join(paragraphs) + "\n", encoding="utf-8")
    print(f"{out}: {len(paragraphs)} paragraphs, {out.stat().st_size} bytes from {len(pages)} pages")


if __name__ == "__main__":
    main()
