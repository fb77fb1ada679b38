"""HTML -> interleaved nodes: each simplification rule on a small page, the datatrove step, and
the quality floor on the 110 real pages of ``../shared/data/web`` (trafilatura's test cache)."""

from __future__ import annotations

import pytest
from datatrove.data import Document, MediaType

from benchmarks.bench_extraction import Score, load_pages, score_page
from pipelines.steps.web.html_extract import HtmlExtractor
from pipelines.steps.web.html_images import image_source, parse_srcset
from pipelines.steps.web.html_simplify import Extraction, extract_nodes
from schemas.samples import nodes_to_text
from tests import corpora

URL = "https://news.example.org/2024/story.html"
PROSE = (
    "The council met on Tuesday evening to discuss the new cycling lanes, and most members agreed "
    "that the plan should go ahead before the summer holidays begin."
)


def page(body: str, head: str = "<title>A  story</title>") -> str:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


def texts(extraction: Extraction) -> list[str]:
    return [node["text"] for node in extraction.nodes if node["type"] == "text"]


def article(*paragraphs: str) -> str:
    return "<article>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</article>"


@pytest.mark.timeout(60)
def test_boilerplate_blocks_are_dropped():
    html = page(
        "<header><a href='/'>Site name</a> Welcome to our site</header>"
        "<nav><ul><li>Home</li><li>Politics</li></ul></nav>"
        "<div class='cookie-banner'>We use cookies to improve your experience on this site.</div>"
        "<main><h1>Lanes approved</h1>"
        + article(PROSE, PROSE.replace("Tuesday", "Monday"))
        + "<div class='share-buttons'>Share this story with your friends on every network</div>"
        "<section id='comments'><p>First! This is a long comment by a reader of the site.</p></section>"
        "</main>"
        "<aside><p>Our sidebar has a lot of text too, about other things entirely.</p></aside>"
        "<div role='navigation'>Jump to any section of the site from this box</div>"
        "<form><p>Subscribe to our newsletter to get the news every morning.</p></form>"
        "<footer><p>Copyright 2024 by the publisher of this site, all rights reserved.</p></footer>"
    )
    # the title just before the article comes along with it
    assert texts(extract_nodes(html, URL)) == ["Lanes approved", PROSE, PROSE.replace("Tuesday", "Monday")]


@pytest.mark.timeout(60)
def test_names_match_whole_segments_and_wrappers_are_kept():
    # "article-header" and "thumbnail" hold no boilerplate word as a segment; "has-sidebar" does,
    # but the element holds the whole article: a mislabelled wrapper, kept
    html = page(
        "<div class='layout has-sidebar'><div class='article-header'><h1>Lanes approved</h1></div>"
        f"<div class='content'><p>{PROSE}</p><p class='thumbnail'>{PROSE[:-1]}, said the mayor.</p></div>"
        "<div class='sidebar'><p>Most read: something else that happened in another town today.</p></div>"
        "</div>"
    )
    assert texts(extract_nodes(html, URL)) == ["Lanes approved", PROSE, f"{PROSE[:-1]}, said the mayor."]


@pytest.mark.timeout(60)
def test_inline_formatting_is_unwrapped_and_whitespace_normalised():
    html = page(
        "<article><p>The   <b>council</b> met <i>on</i> <em>Tuesday</em>,<span> and</span> "
        "<a href='/x'>most</a> <strong>mem</strong>bers\n agreed <small>that</small> the plan "
        "<sup>1</sup> should <font>go</font> ahead before the holidays.</p>"
        "<p>Line one<br>line   two<br/>line three of a poem that is long enough to be kept.</p></article>"
    )
    assert texts(extract_nodes(html, URL)) == [
        "The council met on Tuesday, and most members agreed that the plan 1 should go ahead "
        "before the holidays.",
        "Line one\nline two\nline three of a poem that is long enough to be kept.",
    ]


@pytest.mark.timeout(60)
def test_headings_lists_quotes_pre_and_tables_are_text_blocks():
    html = page(
        "<article><h2>What changes</h2><p>" + PROSE + "</p>"
        "<ul><li>Two new lanes on Main Street</li><li>A bridge for bikes</li></ul>"
        "<blockquote>It is a good day for cyclists, said the mayor.</blockquote>"
        "<pre>lane  width\n  2.5 m</pre>"
        "<table><tr><th>Street</th><th>Length</th></tr><tr><td>Main Street</td><td>1.2 km</td></tr></table>"
        "</article>"
    )
    assert texts(extract_nodes(html, URL)) == [
        "What changes",
        PROSE,
        "Two new lanes on Main Street",
        "A bridge for bikes",
        "It is a good day for cyclists, said the mayor.",
        "lane width\n2.5 m",
        "Street",
        "Length",
        "Main Street",
        "1.2 km",
    ]


@pytest.mark.timeout(60)
def test_comments_scripts_styles_and_hidden_elements_are_gone():
    html = page(
        "<article><!-- a comment with words --><script>var words = 'script words';</script>"
        "<style>p { color: red }</style><noscript>Please enable JavaScript</noscript>"
        f"<p>{PROSE}</p><p style='display: none'>Hidden by style, a long hidden sentence.</p>"
        "<p hidden>Hidden by attribute, another long hidden sentence.</p>"
        "<p aria-hidden='true'>Hidden from readers, a third long hidden sentence.</p>"
        "<span class='sr-only'>Screen reader text</span><iframe src='/ad'></iframe></article>"
    )
    extraction = extract_nodes(html, URL)
    assert texts(extraction) == [PROSE]
    assert extraction.title == "A story"


@pytest.mark.timeout(60)
def test_images_resolved_in_reading_order():
    html = page(
        "<article><p>" + PROSE + "</p>"
        "<img src='/img/a.jpg' alt='  First   image ' width='640' height='480'>"
        "<img src='data:image/gif;base64,R0lGOD' data-src='b.jpg' style='width: 300px; height:200px'>"
        "<p>" + PROSE.replace("council", "board") + "</p>"
        "<img data-srcset='c-small.jpg 320w, c-large.jpg 1280w, c-mid.jpg 640w'>"
        "<picture><source srcset='d.webp 1x, d@2x.webp 2x' type='image/webp'><img alt='pic'></picture>"
        "<img src='data:image/png;base64,iVBOR'><img src=''><img data-original='//cdn.example.net/e.png'>"
        "<img src='/img/blank.gif' data-lazy-src='f.jpg' width='50%'>"
        "</article>",
        head="<base href='https://static.example.com/assets/'>",
    )
    extraction = extract_nodes(html, URL)
    kinds = [node["type"] for node in extraction.nodes]
    assert kinds == ["text", "image", "image", "text", "image", "image", "image", "image"]
    assert [node["media"] for node in extraction.nodes if node["type"] == "image"] == [0, 1, 2, 3, 4, 5]
    assert [image.url for image in extraction.images] == [
        "https://static.example.com/img/a.jpg",
        "https://static.example.com/assets/b.jpg",
        "https://static.example.com/assets/c-large.jpg",
        "https://static.example.com/assets/d@2x.webp",
        "https://cdn.example.net/e.png",
        "https://static.example.com/assets/f.jpg",
    ]
    first, second, *_, last = extraction.images
    assert (first.alt, first.width, first.height) == ("First image", 640, 480)
    assert (second.alt, second.width, second.height) == ("", 300, 200)
    assert extraction.images[3].alt == "pic"
    assert (last.width, last.height) == (None, None)


@pytest.mark.timeout(60)
def test_images_resolve_against_the_page_url_without_base():
    extraction = extract_nodes(page(f"<article><p>{PROSE}</p><img src='pics/a.jpg'></article>"), URL)
    assert [image.url for image in extraction.images] == ["https://news.example.org/2024/pics/a.jpg"]


@pytest.mark.timeout(60)
def test_figure_caption_goes_to_its_image():
    html = page(
        "<article><p>" + PROSE + "</p><figure><img src='a.jpg' alt='lanes'>"
        "<figcaption>The new lanes. Photo: A. Person</figcaption></figure><p>"
        + PROSE[::-1]
        + "</p></article>"
    )
    extraction = extract_nodes(html, URL)
    assert texts(extraction) == [PROSE, PROSE[::-1]]
    assert extraction.images[0].caption == "The new lanes. Photo: A. Person"


@pytest.mark.timeout(60)
def test_srcset_and_image_source_rules():
    assert parse_srcset("a.jpg 1x, b,c.jpg 2x,d.jpg 300w") == [
        ("a.jpg", 1e-6),
        ("b,c.jpg", 2e-6),
        ("d.jpg", 300),
    ]
    assert image_source({"src": " ", "srcset": "small.jpg 100w, big.jpg 900w"}) == "big.jpg"
    assert image_source({"src": "real.jpg", "data-src": "lazy.jpg"}) == "real.jpg"
    assert image_source({"src": "data:image/gif;base64,AAAA"}) is None


@pytest.mark.timeout(60)
def test_link_heavy_navigation_lists_are_cut_but_linked_cells_are_kept():
    links = "".join(f"<li><a href='/t/{i}'>Topic number {i}</a></li>" for i in range(8))
    html = page(
        "<div><p>" + PROSE + "</p><p>" + PROSE.upper() + "</p>"
        f"<ul>{links}</ul>"
        "<table><tr><td><a href='/m/1'>Model One</a></td><td>good, quiet and cheap</td></tr>"
        "<tr><td><a href='/m/2'>Model Two</a></td><td>loud but fast enough</td></tr></table>"
        "<p><a href='/more'>Read more stories from our newsroom here</a></p></div>"
    )
    out = texts(extract_nodes(html, URL))
    assert not any(text.startswith("Topic number") for text in out)
    assert "Model One" in out and "good, quiet and cheap" in out
    assert "Read more stories from our newsroom here" not in out


@pytest.mark.timeout(60)
def test_labels_of_dropped_sections_go_with_them():
    links = "".join(f"<li><a href='/s/{i}'>Another story about town {i}</a></li>" for i in range(5))
    html = page(
        f"<article><p>{PROSE}</p><p>{PROSE.lower()}</p><h3>Related stories</h3><ul>{links}</ul></article>"
    )
    assert texts(extract_nodes(html, URL)) == [PROSE, PROSE.lower()]


@pytest.mark.timeout(60)
def test_main_content_is_the_container_holding_most_prose():
    teasers = "".join(
        f"<div class='box'><h4>Teaser {i}</h4><p>Short teaser text {i}.</p></div>" for i in range(3)
    )
    html = page(
        f"<div id='top'>{teasers}</div>"
        f"<div id='story'><h1>Lanes approved</h1><p>{PROSE}</p><p>{PROSE.lower()}</p><p>{PROSE.upper()}</p></div>"
    )
    assert texts(extract_nodes(html, URL)) == ["Lanes approved", PROSE, PROSE.lower(), PROSE.upper()]


@pytest.mark.timeout(60)
def test_degenerate_inputs_do_not_raise():
    assert extract_nodes("", URL).nodes == []
    assert texts(extract_nodes("just some text", URL)) == ["just some text"]
    deep = "<div>" * 3000 + PROSE + "</div>" * 3000
    assert texts(extract_nodes(deep, URL)) == [PROSE]
    assert extract_nodes("\x00\xff<<<>>>", URL).images == []


def document(html: str, doc_id: str = "d0", url: str = URL) -> Document:
    return Document(text=html, id=doc_id, metadata={"url": url})


@pytest.mark.timeout(60)
def test_html_extractor_step():
    good = page(f"<article><p>{PROSE}</p><img src='/a.jpg' alt='lanes' width='10'></article>")
    docs = [document(good, "good"), document(page("<nav>Home</nav>"), "empty"), document(None, "broken")]
    step = HtmlExtractor()
    out = list(step.run(iter(docs)))
    assert [doc.id for doc in out] == ["good"]
    doc = out[0]
    assert doc.metadata["nodes"] == [{"type": "text", "text": PROSE}, {"type": "image", "media": 0}]
    assert doc.metadata["title"] == "A story"
    assert doc.text == nodes_to_text(doc.metadata["nodes"]) == PROSE
    (media,) = doc.media
    assert (media.id, media.url, media.type, media.alt) == (
        "https://news.example.org/a.jpg",
        "https://news.example.org/a.jpg",
        MediaType.IMAGE,
        "lanes",
    )
    assert media.metadata == {"width": 10}
    stats = {key: value.total for key, value in step.stats.stats.items()}
    assert stats["documents"] == 3
    assert stats["dropped_no_text"] == 1 and stats["dropped_parse_error"] == 1
    assert stats["images"] == 1 and stats["paragraphs"] == 1


@pytest.mark.timeout(60)
def test_html_extractor_applies_postprocess():
    def no_images(extraction: Extraction) -> Extraction:
        extraction.nodes = [node for node in extraction.nodes if node["type"] == "text"]
        extraction.images = []
        return extraction

    html = page(f"<article><p>{PROSE}</p><img src='/a.jpg'></article>")
    (doc,) = HtmlExtractor(postprocess=no_images).run(iter([document(html)]))
    assert doc.media == [] and doc.metadata["nodes"] == [{"type": "text", "text": PROSE}]


# Measured on the 106 pages with snippets: mean per-page recall 0.927, F1 0.914 (precision 0.904,
# recall 0.923); trafilatura 2.3 scores F1 0.920 on the same pages. Floors sit a little under.
MIN_MEAN_PAGE_RECALL = 0.91
MIN_F1 = 0.90


@pytest.mark.corpus("web")
@pytest.mark.timeout(60)
def test_real_pages_quality_floor():
    pages = load_pages(corpora.require("web"))
    assert len(pages) == 110
    total, recalls = Score(), []
    for item in pages:
        score = score_page(nodes_to_text(extract_nodes(item.html, item.url).nodes), item)
        total.add(score)
        if item.keep:
            recalls.append(score.tp / len(item.keep))
    assert len(recalls) == 106
    mean_recall = sum(recalls) / len(recalls)
    assert mean_recall >= MIN_MEAN_PAGE_RECALL, f"mean per-page recall {mean_recall:.3f}"
    assert total.f1 >= MIN_F1, (
        f"F1 {total.f1:.3f} (precision {total.precision:.3f}, recall {total.recall:.3f})"
    )


@pytest.mark.corpus("web")
@pytest.mark.timeout(60)
def test_every_real_page_extracts_through_the_step():
    pages = load_pages(corpora.require("web"))
    step = HtmlExtractor()
    out = list(step.run(document(item.html, item.name, item.url) for item in pages))
    stats = {key: value.total for key, value in step.stats.stats.items()}
    assert stats["documents"] == len(pages) == 110
    assert "dropped_parse_error" not in stats
    assert len(out) == 110 and all(doc.text and doc.metadata["nodes"] for doc in out)
