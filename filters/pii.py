"""PII in text: e-mail addresses, phone numbers and IP addresses replaced by placeholders.

``<EMAIL>``, ``<PHONE>`` and ``<IP>`` replace what they stand for in every text node of an
interleaved document (``doc.text`` rebuilt from the nodes), in ``doc.text`` of the other kinds, in
the turns of a ``qa`` document and in image alt texts. Counted per kind (``pii_email``,
``pii_phone``, ``pii_ip``) and per document (``documents_with_pii``). Nothing is dropped, and
nothing found is written anywhere: an exclusion record of PII would be a copy of it.

datatrove's ``PIIFormatter`` is reused for what it does well: its e-mail pattern (RFC 5322-ish)
and its public-IP validator (``ipaddress.is_global``). It falls short for us because it
- has no phone numbers and no IPv6;
- replaces with fake-but-real-looking values (``email@example.com``, random IPs) rather than
  placeholders a trainer can recognise, and counts nothing per kind;
- matches IPv4 inside longer dotted runs (``1.2.3.4.5``, version strings such as
  ``v4.12.1.8``) and e-mail-shaped file names (``logo@2x.png``);
- edits ``doc.text`` only, which would put it out of step with ``metadata["nodes"]``.

Phone formats differ per country, so national patterns apply by the document's language
(``metadata["lang"]``; en: NANP and UK, de: German area codes, fr: ten digits in pairs); the
international form (``+`` country code, E.164: at most 15 digits) applies everywhere. Guards
against false positives: dates, prices, version numbers and ISBNs never take these shapes
(dots in dates are not accepted as phone separators except in the French pairs, which need five
pairs), and a match preceded by ``ISBN``/``ISSN``/``DOI``/``version``/``v`` is left alone.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import partial

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.formatters.pii import PIIFormatter, public_ip_validator

from schemas.config_governance import PiiConfig
from schemas.samples import nodes_to_text

PLACEHOLDERS = {"email": "<EMAIL>", "phone": "<PHONE>", "ip": "<IP>"}
PII_KINDS = tuple(PLACEHOLDERS)

EMAIL_RE = PIIFormatter(remove_ips=False).emails_replacer.regex  # datatrove's pattern
# top-level "domains" that are really file extensions: logo@2x.png, icon@3x.webp
FILE_EXTENSIONS = frozenset("png jpg jpeg gif webp svg avif bmp ico css js json html htm pdf mp4".split())

IPV4_RE = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"
)
# candidates only: ipaddress decides (times such as 12:30:45 are no addresses)
IPV6_RE = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?![\w:]|\.\d)"
)
_SEP = r"[ \u00a0/-]"  # separators within a phone number (no dots: dates and versions use them)
PHONE_PATTERNS: dict[str, re.Pattern] = {
    # +49 30 1234567, +1 (415) 555-0199, +33 1 23 45 67 89, +44 (0)20 7946 0958, +4930123456
    "intl": re.compile(
        r"(?<![\w+])\+[1-9]\d{0,2}(?:[ \u00a0./-]?\(0\))?(?:[ \u00a0./-]?\(?\d{1,5}\)?){2,6}(?!\w)"
    ),
    # (415) 555-0199, 415-555-0199, 415.555.0199, 1-800-555-0199; UK 020 7946 0958, 07700 900123
    "en": re.compile(
        r"(?<![\w.+-])(?:1[ -])?(?:\(\d{3}\)[ \u00a0]?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w]|[.-]\d)"
        r"|(?<![\w.+-])0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}(?![\w]|[.-]\d)"
    ),
    # 030 12345678, (030) 123 456 78, 030/1234567, 0171-1234567, 089 123456-0
    "de": re.compile(
        rf"(?<![\w.+-])(?:\(0\d{{2,5}}\)|0\d{{2,5}}){_SEP}{{1,2}}\d{{2,8}}(?:{_SEP}\d{{1,6}}){{0,3}}(?![\w]|[.,]\d)"
    ),
    # 01 23 45 67 89, 01.23.45.67.89, 01-23-45-67-89, 0123456789
    "fr": re.compile(r"(?<![\w.+-])0[1-9](?:([ .\u00a0-]?)\d{2})(?:\1\d{2}){3}(?![\w]|[.,-]\d)"),
}
PHONE_DIGITS = {"intl": (8, 15), "en": (10, 11), "de": (7, 13), "fr": (10, 10)}
# a number right after one of these is an identifier, not PII
GUARD_BEFORE = re.compile(r"(?:\b(?:isbn(?:-1[03])?|issn|doi|version|ver|release|build|v)\.?:?\s*)$", re.I)


_DIGIT = re.compile(r"\d")  # what the patterns' \d matches (Unicode digits too)


def _guarded(text: str, start: int) -> bool:
    return bool(GUARD_BEFORE.search(text[max(0, start - 16) : start]))


class PiiRedactor:
    """Replaces the PII kinds ``cfg`` switches on; pure text in, text and counts out."""

    def __init__(self, cfg: PiiConfig | None = None):
        self.cfg = cfg or PiiConfig()
        self.is_ip = partial(public_ip_validator, public_only=self.cfg.only_public_ips)

    def redact(self, text: str, lang: str | None = None) -> tuple[str, Counter]:
        """``text`` with PII replaced, and how many of each kind were replaced."""
        counts: Counter = Counter()
        if not text:
            return text, counts
        cfg = self.cfg

        def sub(pattern: re.Pattern, kind: str, valid, text: str) -> str:
            def replace(match: re.Match) -> str:
                if not valid(match, text):
                    return match.group(0)
                counts[kind] += 1
                return PLACEHOLDERS[kind]

            return pattern.sub(replace, text)

        # phones have 7 digits or more, IPv4 addresses 4: a text with fewer skips those patterns
        # (the phone patterns were ~10% of an instruct run on short questions and answers)
        digits = len(_DIGIT.findall(text))
        if cfg.email and "@" in text:
            text = sub(EMAIL_RE, "email", self._email_ok, text)
        if cfg.ip:
            if ":" in text:
                text = sub(IPV6_RE, "ip", lambda m, t: self.is_ip(m.group(0)), text)
            if "." in text and digits >= 4:
                text = sub(
                    IPV4_RE, "ip", lambda m, t: not _guarded(t, m.start()) and self.is_ip(m.group(0)), text
                )
        if cfg.phone and digits >= min(low for low, _ in PHONE_DIGITS.values()):
            for name in ("intl", lang) if lang in cfg.phone_languages else ("intl",):
                if name in PHONE_PATTERNS:
                    text = sub(PHONE_PATTERNS[name], "phone", partial(self._phone_ok, name), text)
        return text, counts

    @staticmethod
    def _email_ok(match: re.Match, text: str) -> bool:
        tld = match.group(0).rsplit(".", 1)[-1].lower()
        return tld.isalpha() and len(tld) >= 2 and tld not in FILE_EXTENSIONS

    @staticmethod
    def _phone_ok(name: str, match: re.Match, text: str) -> bool:
        low, high = PHONE_DIGITS[name]
        digits = sum(c.isdigit() for c in match.group(0))
        return low <= digits <= high and not _guarded(text, match.start())


class PiiFormatter(PipelineStep):
    """Replaces PII by placeholders in every text of every document (see the module docstring)."""

    name = "📞 PII placeholders"
    type = "✂️ - FORMAT"

    def __init__(self, cfg: PiiConfig | None = None):
        super().__init__()
        self.cfg = cfg or PiiConfig()
        self.redactor = PiiRedactor(self.cfg)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            if self.cfg.enabled:
                with self.track_time():
                    self.redact_document(doc)
            yield doc

    def redact_document(self, doc: Document) -> Counter:
        """Redact one document in place; returns the counts per kind."""
        lang = doc.metadata.get("lang")
        total: Counter = Counter()

        def redact(text: str) -> str:
            out, counts = self.redactor.redact(text, lang)
            total.update(counts)
            return out

        nodes = doc.metadata.get("nodes")
        if nodes is not None:
            doc.metadata["nodes"] = [
                {**node, "text": redact(node["text"])} if node["type"] == "text" else node for node in nodes
            ]
            doc.text = nodes_to_text(doc.metadata["nodes"])
        else:
            doc.text = redact(doc.text)
        for turn in doc.metadata.get("qa") or []:
            for key in ("user", "assistant"):
                if isinstance(turn.get(key), str):
                    turn[key] = redact(turn[key])
        for media in doc.media:
            if media.alt:
                media.alt = redact(media.alt)
        self.stat_update("documents")
        for kind in PII_KINDS:
            self.stat_update(f"pii_{kind}", value=total[kind])
        if total:
            self.stat_update("documents_with_pii")
        return total
