import pytest

from schemas.samples import KINDS, kind_schema, make_key, nodes_to_text, sample_errors


def test_keys_never_hold_dots_and_stay_distinct():
    assert make_key("doc-1_A") == "doc-1_A"
    keys = {make_key(i) for i in ["a.b", "a_b", "a/b", "a b", "https://x.org/p.html?q=1"]}
    assert len(keys) == 5
    assert not any("." in k or "/" in k for k in keys)


def test_nodes_to_text_joins_text_nodes():
    nodes = [{"type": "text", "text": "a"}, {"type": "image", "media": 0}, {"type": "text", "text": "b"}]
    assert nodes_to_text(nodes) == "a\n\nb"


GOOD = {
    "interleaved": {"texts": ["t", None], "images": [None, "000.jpg"]},
    "pair": {"texts": [None, "a cat"], "images": ["000.jpg", None]},
    "ocr": {"texts": [None, "page text"], "images": ["000.png", None]},
    "qa": {"texts": [{"user": "q?", "assistant": "a", "source": "s"}], "images": ["000.jpg", "001.jpg"]},
}


@pytest.mark.parametrize("kind", KINDS)
def test_good_samples_pass(kind):
    sample = {"kind": kind, "source": "s", "meta": {}, **GOOD[kind]}
    members = {m for m in sample["images"] if m}
    assert kind_schema(kind)["properties"]["kind"]["const"] == kind
    assert sample_errors(sample, members) == []


@pytest.mark.parametrize(
    "kind, change, needle",
    [
        ("interleaved", {"texts": ["t", "u"], "images": [None, "000.jpg"]}, "exactly one of"),
        ("interleaved", {"texts": ["t"], "images": [None, "000.jpg"]}, "aligned"),
        ("pair", {"texts": [None, ""]}, "texts/1"),
        ("pair", {"images": ["000.gif", None]}, "images/0"),
        ("qa", {"texts": [{"user": "q"}]}, "assistant"),
        ("ocr", {"extra": 1}, "Additional properties"),
    ],
)
def test_bad_samples_are_named(kind, change, needle):
    sample = {"kind": kind, "source": "s", "meta": {}, **GOOD[kind], **change}
    errors = sample_errors(sample)
    assert errors and any(needle in e for e in errors), errors


def test_member_cross_check():
    sample = {"kind": "pair", "source": "s", "meta": {}, **GOOD["pair"]}
    assert sample_errors(sample, set()) == ["image '000.jpg' is referenced but not in the shard"]
    assert "not referenced" in sample_errors(sample, {"000.jpg", "001.jpg"})[0]
    assert sample_errors({"kind": "video"}) == [
        "'kind' is 'video', expected one of interleaved, pair, ocr, qa"
    ]
