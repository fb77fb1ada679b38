"""Page licence detection on the real pages of ../shared/data/web/html and on small snippets."""

from __future__ import annotations

import pytest

from filters.licences import normalize_licence_url, page_licence
from tests import corpora

HTML = corpora.path("web") / "html"
CC = "https://creativecommons.org/licenses/"

# every real page that declares a licence for itself, by hand; image credits (figure captions,
# photo credits) on the others are not the page's licence
REAL = {
    "blog.python.org.html": CC + "by-nc-sa/3.0/",  # <a rel="license">
    "boingboing.net.millenials.html": CC + "by-nc-sa/3.0/",  # "published under a Creative Commons license"
    "creativecommons.org.html": CC + "by/4.0/",
    "en.wikipedia.org.tsne.html": CC + "by-sa/3.0/",  # <link rel="license" href="//...">
    "jovelstefan.de.gefallt.html": CC + "by-nc/3.0/de/",
    "kulinariaathome.com.mandelplätzchen.html": CC + "by-nc-nd/3.0/",
    "nature.com.telescope.html": "©2020 Macmillan Publishers Limited. All Rights Reserved.",  # dc.rights
    "netzpolitik.org.abmahnungen.html": CC + "by-nc-sa/4.0/",  # footer, not the rel=license photo credits
    "stackoverflow.com.rust.html": CC + "by-sa/4.0/",
    "wikimediafoundation.org.turkey.html": CC + "by-sa/3.0/",  # "content of this site is licensed under"
}


@pytest.mark.corpus("web")
def test_real_pages():
    found = {path.name: page_licence(path.read_bytes()) for path in sorted(HTML.iterdir())}
    assert {name: lic for name, lic in found.items() if lic} == REAL
    # pages that only credit photos under CC declare nothing for themselves
    assert found["theplanetarypress.com.forestlands.html"] is None
    assert found["soundofscience.fr.1927.html"] is None


@pytest.mark.parametrize(
    "html, expected",
    [
        ('<html><head><link rel="license" href="/terms"></head></html>', "https://ex.org/terms"),
        ('<meta name="license" content="CC0-1.0">', "CC0-1.0"),
        ('<meta name="dcterms.license" content="http://creativecommons.org/licenses/by/4.0/deed.fr">', CC + "by/4.0/"),
        ('<p><a rel="nofollow license" href="https://creativecommons.org/publicdomain/zero/1.0/">CC0</a></p>',
         "https://creativecommons.org/publicdomain/zero/1.0/"),
        ('<a href="https://creativecommons.org/licenses/by-sa/4.0/"><img src="https://licensebuttons.net/l/by-sa/4.0/88x31.png"></a>',
         CC + "by-sa/4.0/"),
        ('<footer><p>Dieser Blog steht unter einer <a href="https://creativecommons.org/licenses/by/4.0/deed.de">CC BY</a> Lizenz.</p></footer>',
         CC + "by/4.0/"),
        ('<p>Contenu publié sous licence <a href="https://creativecommons.org/licenses/by-nc/4.0/">CC BY-NC</a>.</p>',
         CC + "by-nc/4.0/"),
        # only image credits or mentions: nothing
        ('<figure><img src="a.jpg"><figcaption>Photo: X, <a rel="license" href="https://creativecommons.org/licenses/by/2.0/">CC BY</a></figcaption></figure>', None),
        ('<p>Foto: Y (<a href="https://creativecommons.org/licenses/by-sa/2.0/">CC BY-SA 2.0</a>)</p>', None),
        ("<p>No licence here.</p>", None),
        ("", None),
    ],
)  # fmt: skip
def test_snippets(html, expected):
    assert page_licence(html, "https://ex.org/a/page.html") == expected


def test_normalize():
    assert (
        normalize_licence_url("http://creativecommons.org/licenses/by-nc-sa/3.0/deed.en_US")
        == CC + "by-nc-sa/3.0/"
    )
    assert normalize_licence_url("//creativecommons.org/licenses/by-sa/3.0/") == CC + "by-sa/3.0/"
