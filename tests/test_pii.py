"""PII placeholders: e-mails, phones per language and E.164, IPv4/IPv6; no false positives on
dates, prices, version numbers, ISBNs; nodes and doc.text kept in step; counts per kind."""

from __future__ import annotations

import time

import pytest
from datatrove.data import Document

from filters.pii import PiiFormatter, PiiRedactor
from schemas.config_governance import PiiConfig
from schemas.samples import nodes_to_text
from tests.dedup_fixtures import document, paragraph


@pytest.mark.parametrize(
    "text, lang, expected",
    [
        ("Write to john.doe@example.com or Jane_D@mail.co.uk.", "en", "Write to <EMAIL> or <EMAIL>."),
        ("Server 8.8.8.8 answered, then 2001:4860:4860::8888.", "en", "Server <IP> answered, then <IP>."),
        ("Mapped ::ffff:8.8.8.8 and http://1.1.1.1/x on 8.8.4.4:53", "en", "Mapped <IP> and http://<IP>/x on <IP>:53"),
        ("Call (415) 555-0199, 415-555-0199 or 1-800-555-0199.", "en", "Call <PHONE>, <PHONE> or <PHONE>."),
        ("UK office: 020 7946 0958, mobile 07700 900123.", "en", "UK office: <PHONE>, mobile <PHONE>."),
        ("Tel. 030 12345678, (030) 123 456 78, 030/1234567, 0171-1234567", "de", "Tel. <PHONE>, <PHONE>, <PHONE>, <PHONE>"),
        ("Zentrale: 089 123456-0", "de", "Zentrale: <PHONE>"),
        ("Appelez le 01 23 45 67 89, le 01.23.45.67.89 ou le 0612345678.", "fr", "Appelez le <PHONE>, le <PHONE> ou le <PHONE>."),
        # E.164 / international numbers in every language, even one without national patterns
        ("+49 30 1234567, +1 415 555 0199, +33 1 23 45 67 89, +44 (0)20 7946 0958, +4930123456", "es",
         "<PHONE>, <PHONE>, <PHONE>, <PHONE>, <PHONE>"),
    ],
)  # fmt: skip
def test_pii_is_replaced(text, lang, expected):
    assert PiiRedactor().redact(text, lang)[0] == expected


@pytest.mark.parametrize("lang", ["en", "de", "fr"])
@pytest.mark.parametrize(
    "text",
    [
        # dates and times
        "On 2023-01-15, 15.01.2023, 01/15/2023, 15/01/2023, 31.12.2023 - 02.01.2024 at 12:30:45",
        "Du 01/02/2023 au 31/12/2023, le 1er mai 2024 à 12h30",
        # prices
        "It cost $1,299.99, 1.299,00 €, 12 345,67 EUR, 2 500,50 € or £0.99",
        # version numbers (4 parts look like IPv4)
        "Python 3.12.1, v4.12.1.8, version 1.2.3.4, release 10.0.19045.2965, and 1.2.3.4.5",
        # ISBNs, ISSNs
        "ISBN 978-3-16-148410-0, ISBN 0306406152, ISBN-10 0-306-40615-2, ISSN 0317-8471",
        # other numbers, file names that look like e-mails, private addresses, times as IPv6
        "Population 3,456,789 in 1999-2004, pages 123-456, PLZ 01067 Dresden, logo@2x.png, 192.168.1.1, ::1, ratio 3:2:1",
    ],
)
def test_no_false_positives(text, lang):
    out, counts = PiiRedactor().redact(text, lang)
    assert out == text and not counts


def test_switches_and_private_ips():
    text = "a@b.org 10.0.0.1 8.8.8.8 +49 30 1234567"
    assert (
        PiiRedactor(PiiConfig(email=False, phone=False)).redact(text)[0]
        == "a@b.org 10.0.0.1 <IP> +49 30 1234567"
    )
    everything = PiiRedactor(PiiConfig(only_public_ips=False)).redact(text)[0]
    assert everything == "<EMAIL> <IP> <IP> <PHONE>"
    # national formats only for the languages configured
    assert (
        PiiRedactor(PiiConfig(phone_languages=["en"])).redact("Tel. 030 12345678", "de")[0]
        == "Tel. 030 12345678"
    )


def test_every_text_node_and_doc_text_in_step():
    doc = document(
        "d",
        "http://x.org/p",
        "2021-01-01T00:00:00Z",
        ["Mail anna@x.org now.", paragraph("p")],
        ["http://x.org/i.jpg"],
    )
    doc.metadata["lang"] = "de"
    doc.metadata["nodes"].append({"type": "text", "text": "Ruf an: 030 12345678 oder 8.8.8.8"})
    doc.media[0].alt = "photo by bob@x.org"
    step = PiiFormatter()
    counts = step.redact_document(doc)
    assert counts == {"email": 2, "phone": 1, "ip": 1}
    texts = [n["text"] for n in doc.metadata["nodes"] if n["type"] == "text"]
    assert texts[0] == "Mail <EMAIL> now." and texts[2] == "Ruf an: <PHONE> oder <IP>"
    assert doc.text == nodes_to_text(doc.metadata["nodes"])
    assert doc.media[0].alt == "photo by <EMAIL>"
    assert (
        step.stats["pii_email"].total,
        step.stats["pii_phone"].total,
        step.stats["documents_with_pii"].total,
    ) == (2, 1, 1)


def test_plain_and_qa_documents():
    pair = Document(text="Contact sales@shop.com", id="p", metadata={"lang": "en"})
    qa = Document(
        text="",
        id="q",
        metadata={"qa": [{"user": "Who is at 8.8.8.8?", "assistant": "Call +1 415 555 0199"}]},
    )
    out = list(PiiFormatter().run(iter([pair, qa])))
    assert out[0].text == "Contact <EMAIL>"
    assert out[1].metadata["qa"] == [{"user": "Who is at <IP>?", "assistant": "Call <PHONE>"}]


def test_throughput():
    docs = [
        document(f"d{i}", f"http://x.org/{i}", "2021-01-01T00:00:00Z", [paragraph(i, 80) + " Mail a@b.org or 030 1234567." for _ in range(5)])
        for i in range(300)
    ]  # fmt: skip
    for doc in docs:
        doc.metadata["lang"] = "de"
    started = time.perf_counter()
    out = list(PiiFormatter().run(iter(docs)))
    elapsed = time.perf_counter() - started
    rate = len(out) / elapsed
    print(f"PII: {rate:.0f} docs/s ({sum(len(d.text) for d in out) / elapsed / 1e6:.1f} MB/s)")
    assert all("<EMAIL>" in d.text and "<PHONE>" in d.text for d in out)
    assert rate > 200
