"""README.md and docs/: the README stays short and links every page; every relative link in them
points at a file that exists."""
import glob
import os
import re

from conftest import ROOT

README_LIMIT = 10000
LINK = re.compile(r'\]\(([^)#\s]+)(?:#[^)]*)?\)')


def pages():
    return sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md')))


def test_the_readme_is_short_and_links_every_page():
    text = open(os.path.join(ROOT, 'README.md')).read()
    assert len(text) <= README_LIMIT, len(text)
    assert text.startswith('# ') and 'make demo' in text and 'make test' in text
    linked = set(LINK.findall(text))
    assert {os.path.relpath(p, ROOT) for p in pages()} <= linked
    assert len(pages()) >= 9


def test_every_relative_link_resolves():
    broken = []
    for path in [os.path.join(ROOT, 'README.md'), os.path.join(ROOT, 'bench', 'README.md')] + pages():
        for target in LINK.findall(open(path).read()):
            if re.match(r'[a-z]+:', target):
                continue        # a web address
            if not os.path.exists(os.path.join(os.path.dirname(path), target)):
                broken.append('{}: {}'.format(os.path.relpath(path, ROOT), target))
    assert not broken, broken
