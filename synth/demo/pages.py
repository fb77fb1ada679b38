"""The HTML pages of the demo corpus: news-like articles in English, German and French.

Each page is a real-looking article (sentences written in its language, filled from a seed)
wrapped in the boilerplate an extractor must strip (cookie banner, header, nav, sidebar,
footer, scripts, styles, comments), with images in the main text written in every form a
reader meets (absolute, relative, protocol-relative, lazy `data-src`, `srcset`, `<figure>`).
`plan_pages` adds the cases the crawl job's filters and dedup must catch; each page carries
its case so tests can assert what every filter drops. Image URLs only: the local web server
(`synth.demo.local_web`) answers them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from html import escape
from urllib.parse import urljoin

from synth.demo.texts import CHROME, CITIES, NAMES, PHOTO_SLUGS, PHOTO_TEXT, TEMPLATES, TITLES, WHEN

LANGS = ("en", "de", "fr")
HOSTS = {
    "en": ("news.example.org", "blog.example.com"),
    "de": ("www.lokalzeitung.example", "nachrichten.example"),
    "fr": ("actualites.example", "www.journal.example"),
}
IMAGE_HOSTS = ("cdn.example.net", "img.example.org")
MIRROR_HOST = "mirror.example.net"
SPAM_HOST = "deals.example"
FAULT_HOST = "faults.example"
FAULTS = ("404", "reset", "wrong_type")  # `?fault=NAME` makes synth.demo.local_web answer with it
BANNER_URL = "https://static.example.com/brand/partner-banner.png"  # in the main text of >10 pages
PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
IMAGE_STYLES = ("absolute", "figure", "root_relative", "lazy", "srcset", "relative", "protocol_relative")


@dataclass
class Image:
    """One `<img>` of the main text: its attributes as written, and a figcaption when in a `<figure>`."""

    attrs: dict[str, str]
    caption: str | None = None

    @property
    def ref(self) -> str:
        """The attribute that holds the real image URL (lazy images keep a placeholder in `src`)."""
        return self.attrs.get("data-src") or self.attrs["src"]


@dataclass
class Page:
    """A crawled response: an HTML article (`blocks` are paragraphs and images) or raw bytes."""

    url: str
    lang: str
    case: str
    title: str = ""
    blocks: list[str | Image] = field(default_factory=list)
    date: datetime | None = None
    duplicate_of: str | None = None
    detail: str = ""
    charset: str = "utf-8"
    content_type: str = "text/html; charset=utf-8"
    image_faults: dict[str, str] = field(default_factory=dict)
    chrome_seed: int = 0  # draws the boilerplate, so copies of a page keep the same one
    body: bytes = b""

    @property
    def images(self) -> list[str]:
        """Absolute URLs of the main-text images in reading order, resolved against the page URL."""
        return [urljoin(self.url, block.ref) for block in self.blocks if isinstance(block, Image)]


def fill(template: str, rng: random.Random, lang: str) -> str:
    """A template with its city, name, time and number slots drawn from `rng`."""
    text = template.format(
        city=rng.choice(CITIES[lang]), name=rng.choice(NAMES[lang]), day=rng.choice(WHEN[lang]),
        n=rng.randint(3, 950),
    )  # fmt: skip
    return text[0].upper() + text[1:]


def paragraphs(rng: random.Random, lang: str, count: int, per: int = 3) -> list[str]:
    """`count` paragraphs of `per` distinct sentences (at most 24 sentences per call)."""
    chosen = [fill(t, rng, lang) for t in rng.sample(TEMPLATES[lang], count * per)]
    return [" ".join(chosen[i * per : (i + 1) * per]) for i in range(count)]


def _image(rng: random.Random, lang: str, style: str) -> Image:
    k = rng.randrange(len(PHOTO_SLUGS))
    ext = rng.choice(("jpg", "png", "webp"))
    name = f"{PHOTO_SLUGS[k]}-{rng.randrange(1000, 99999)}"
    url = (
        f"https://{rng.choice(IMAGE_HOSTS)}/photos/{rng.choice((2023, 2024))}/{rng.randint(1, 12):02d}/{name}"
    )
    alt = PHOTO_TEXT[lang][k]
    attrs = {
        "absolute": {"src": f"{url}.{ext}", "alt": alt},
        "figure": {"src": f"{url}.{ext}", "alt": alt},
        "root_relative": {"src": f"/media/{name}.{ext}", "alt": ""},
        "relative": {"src": f"images/{name}.{ext}", "alt": alt},
        "protocol_relative": {"src": f"{url.removeprefix('https:')}.{ext}"},
        "lazy": {"src": PLACEHOLDER, "data-src": f"{url}.{ext}", "alt": alt, "loading": "lazy"},
        "srcset": {
            "src": f"{url}-640.jpg",
            "srcset": f"{url}-320.jpg 320w, {url}-640.jpg 640w, {url}-1280.jpg 1280w",
            "sizes": "(max-width: 700px) 100vw, 640px",
            "alt": alt,
        },
    }[style]
    caption = f"{alt}. ({rng.choice(NAMES[lang])})" if style == "figure" else None
    return Image({**attrs, "width": "640", "height": "427"} if style == "absolute" else attrs, caption)


def article(
    rng: random.Random, lang: str, count: int, images: int, banner: bool = False, per: int = 3
) -> list[str | Image]:
    """Paragraphs with `images` photos (styles drawn from `rng`) placed between them."""
    blocks: list[str | Image] = list(paragraphs(rng, lang, count, per))
    styles = rng.sample(IMAGE_STYLES, images)
    for i, style in enumerate(styles):
        blocks.insert(1 + i * 2, _image(rng, lang, style))
    if banner:
        blocks.insert(len(blocks) - 1, Image({"src": BANNER_URL, "alt": "Partner", "class": "promo"}))
    return blocks


def _block(block: str | Image) -> str:
    if isinstance(block, str):
        return f"<p>{escape(block)}</p>"
    tag = "<img " + " ".join(f'{k}="{escape(v)}"' for k, v in block.attrs.items()) + ">"
    if block.caption is not None:
        return f"<figure>{tag}<figcaption>{escape(block.caption)}</figcaption></figure>"
    return f'<p class="image">{tag}</p>'


def render(page: Page) -> bytes:
    """The page as a full HTML document with its boilerplate, encoded in its declared charset."""
    rng = random.Random(page.chrome_seed)
    nav, cookie, accept, popular, byline, rights, links = CHROME[page.lang]
    host = page.url.split("/")[2]
    date = f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2024"
    others = [t.format(city=rng.choice(CITIES[page.lang])) for t in rng.sample(TITLES[page.lang], 3)]
    body = "\n".join(_block(b) for b in page.blocks)
    return f"""<!DOCTYPE html>
<html lang="{page.lang}">
<head>
<meta charset="{page.charset}">
<title>{escape(page.title)} | {host}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/site.css">
<style>body {{ font-family: Georgia, serif; margin: 0 auto; max-width: 960px; }} .cookie {{ position: fixed; bottom: 0; }}</style>
<script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"page": "{page.url}", "section": "local"}});</script>
</head>
<body>
<!-- ExampleCMS 4.2 | cache: hit | node {rng.randrange(10**6)} -->
<div id="cookie-banner" class="cookie">{escape(cookie)} <button type="button">{escape(accept)}</button></div>
<header class="site-header"><a href="/"><img src="/assets/logo.png" alt="{host}" class="logo"></a>
<nav><ul>{"".join(f'<li><a href="/{i}/">{escape(item)}</a></li>' for i, item in enumerate(nav))}</ul></nav></header>
<main>
<article>
<h1>{escape(page.title)}</h1>
<p class="byline">{escape(byline.format(name=rng.choice(NAMES[page.lang]), date=date))}</p>
{body}
</article>
</main>
<aside class="sidebar"><h3>{escape(popular)}</h3><ul>{"".join(f'<li><a href="/more/{i}.html">{escape(t)}</a></li>' for i, t in enumerate(others))}</ul></aside>
<footer><p>&copy; 2024 {host}. {escape(rights)}</p><p>{" | ".join(f'<a href="/{t.lower().replace(" ", "-")}">{escape(t)}</a>' for t in links)}</p></footer>
<script src="https://static.example.com/js/analytics.js" async></script>
<!-- end of page -->
</body>
</html>
""".encode(page.charset)


# --- the crawl: good pages and the cases the filters must catch --------------------------------

EXACT_DUP_OF = (0, 4)  # indices of good pages copied byte for byte under a mirror URL
OLDER_OF = (6, 5)  # good pages also crawled earlier: the first older record precedes its newer one
NEAR_DUP_OF = (9, 2)  # long good pages republished with a few words changed
IMAGE_SET_OF = 3  # a good page whose images another page repeats in another order
STOPWORDS = {"the", "be", "to", "of", "and", "that", "have", "with", "a", "an", "in", "for", "on", "it", "by"}
SPAM = ("BUY NOW!!!", "CHEAP WATCHES!!!", "FREE SHIPPING!!!", "CLICK HERE!!!", "LIMITED OFFER!!!",
        "BEST PRICE GUARANTEED!!!", "100% FREE!!!", "WIN A PRIZE TODAY!!!")  # fmt: skip
SYMBOLS = ("###", "***", "$$$", ">>>", "...", "|||", "@@@", "+++", "~~~", "###", "...")


def _story(
    rng: random.Random, lang: str, case: str, key: str, blocks: list[str | Image], host: str = ""
) -> Page:
    """A page on one of the language's hosts, with a title, URL and boilerplate drawn from `rng`."""
    title = rng.choice(TITLES[lang]).format(city=rng.choice(CITIES[lang]))
    host = host or rng.choice(HOSTS[lang])
    section = rng.choice(("news", "local", "culture", "blog"))
    url = f"https://{host}/{section}/{rng.choice((2023, 2024))}/{key}-{rng.randrange(1000, 9999)}"
    url += "/" if rng.random() < 0.25 else ".html"
    return Page(url, lang, case, title, blocks, chrome_seed=rng.randrange(2**32))


def _change_words(rng: random.Random, page: Page, count: int) -> list[str | Image]:
    """The page's blocks with `count` words of its paragraphs swapped for other words of its language."""
    blocks = list(page.blocks)
    vocabulary = sorted({w for t in TEMPLATES[page.lang] for w in t.split() if w.isalpha() and len(w) > 4})
    texts = [i for i, block in enumerate(blocks) if isinstance(block, str)]
    for i in rng.sample(texts, count):
        words = blocks[i].split(" ")
        j = rng.choice([j for j, word in enumerate(words) if word.isalpha()])
        words[j] = rng.choice([w for w in vocabulary if w != words[j]])
        blocks[i] = " ".join(words)
    return blocks


def _low_quality(rng: random.Random) -> list[Page]:
    """One page per quality problem: too short, repetitive, word salad, mostly symbols, spam."""
    words = sorted(
        {w.strip(".,").lower() for t in TEMPLATES["en"] for w in t.split() if w.isalpha()} - STOPWORDS
    )
    repeated = fill(rng.choice(TEMPLATES["en"]), rng, "en")
    spam_image = Image({"src": f"https://{SPAM_HOST}/ads/watch-{rng.randrange(100, 999)}.jpg", "alt": "BUY"})
    kinds = {
        "short": ("fr", ["Page en construction. Revenez bientôt !"]),
        "repetitive": ("en", [repeated] * 30),
        "word_salad": (
            "en",
            [" ".join(rng.choices(words, k=70)) for _ in range(3)] + article(rng, "en", 0, 1),
        ),
        "symbols": ("en", [" ".join(rng.choices(SYMBOLS + ("deal", "sale"), k=60)) for _ in range(3)]),
        "spam": ("en", [" ".join(rng.choices(SPAM, k=25)) for _ in range(4)] + [spam_image]),
    }
    pages = []
    for detail, (lang, blocks) in kinds.items():
        host = SPAM_HOST if detail in ("symbols", "spam") else ""
        pages.append(replace(_story(rng, lang, "low_quality", detail, blocks, host), detail=detail))
    return pages


def plan_pages(seed: int, extra: Sequence[Page] = ()) -> list[Page]:
    """Every page of the crawl in WARC order, with crawl dates and bodies; `extra` pages join the tail."""
    rng = random.Random(f"demo-pages-{seed}")
    good = []
    for i in range(24):
        lang, long = LANGS[i % 3], i in NEAR_DUP_OF
        count, images = (6, rng.randint(1, 3)) if long else (rng.randint(3, 5), rng.randint(1, 3))
        blocks = article(rng, lang, count, 3 if i == IMAGE_SET_OF else images, i % 2 == 0, 4 if long else 3)
        good.append(_story(rng, lang, "good", f"story-{i:02d}", blocks))
    older = [
        replace(good[i], case="same_url_older", duplicate_of=good[i].url, detail="older crawl of the same URL",
                blocks=good[i].blocks[:-1] + paragraphs(rng, good[i].lang, 1))
        for i in OLDER_OF
    ]  # fmt: skip
    source = good[IMAGE_SET_OF]
    same_set = _story(rng, source.lang, "same_image_set", "gallery", article(rng, source.lang, 4, 0))
    for n, url in enumerate(rng.sample(source.images, len(source.images))):
        same_set.blocks.insert(1 + 2 * n, Image({"src": url, "alt": PHOTO_TEXT[source.lang][n]}))
    same_set.duplicate_of = source.url
    logo = _story(rng, "de", "repeated_logo", "partner", paragraphs(rng, "de", 3))
    logo.blocks[1:1] = [Image({"src": BANNER_URL, "alt": "Partner"})]
    logo.blocks.append(Image({"src": BANNER_URL, "alt": "Partner", "class": "promo"}))
    latin1 = _story(rng, "de", "latin1", "umlaute", article(rng, "de", 4, 2))
    latin1.charset, latin1.content_type = "iso-8859-1", "text/html; charset=iso-8859-1"
    faulty = _story(rng, "en", "fault_images", "broken-gallery", article(rng, "en", 4, 1))
    for n, fault in enumerate(FAULTS):
        url = f"https://{FAULT_HOST}/{fault}/photos/{PHOTO_SLUGS[n]}-{rng.randrange(1000, 9999)}.jpg?fault={fault}"
        faulty.blocks.insert(2 + 2 * n, Image({"src": url, "alt": PHOTO_TEXT["en"][n]}))
        faulty.image_faults[url] = fault
    tail = [
        *(replace(good[i], url=f"https://{MIRROR_HOST}/{good[i].lang}/{good[i].url.split('/', 3)[3]}",
                  case="exact_dup", duplicate_of=good[i].url) for i in EXACT_DUP_OF),
        *(replace(good[i], url=f"https://{HOSTS[good[i].lang][0]}/archive/story-{i}-{rng.randrange(1000, 9999)}.html",
                  case="near_dup", duplicate_of=good[i].url, detail="3 words changed",
                  blocks=_change_words(rng, good[i], 3)) for i in NEAR_DUP_OF),
        *_low_quality(rng), older[1], same_set, logo, latin1, faulty, *extra,
    ]  # fmt: skip
    rng.shuffle(tail)
    order = good[: OLDER_OF[0]] + [older[0]] + good[OLDER_OF[0] : 12] + tail[:6] + good[12:] + tail[6:]
    start = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(
        days=rng.randrange(200), hours=rng.randrange(24)
    )
    for n, page in enumerate(order):
        page.date = start + timedelta(minutes=11 * n, seconds=rng.randrange(600))
    for old, i in zip(older, OLDER_OF, strict=True):
        old.date = good[i].date - timedelta(days=rng.randint(30, 120))
    by_url = {page.url: page for page in order if page.case == "good"}
    for page in order:
        if page.case == "exact_dup":
            page.body = by_url[page.duplicate_of].body  # byte-identical: rendered once
        elif not page.body:
            page.body = render(page)
    return order
