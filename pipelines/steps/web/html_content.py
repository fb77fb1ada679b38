"""Main-content selection: which blocks of the walk make the article.

The walk (``html_walk``) records elements and blocks; this module judges them, rules 2-3 of
the ``html_simplify`` docstring: weigh each block as prose, find the main container holding most
of it and the lede right before it, then drop link-heavy blocks, repeats, date lines and labels
whose section was dropped. Kept apart from the walk so the selection rules and their tuning
constants, measured on ``benchmarks/bench_extraction.py``, sit together in one place.
"""

from __future__ import annotations

from pipelines.steps.web.html_walk import GROUP_TAGS, HEADING_TAGS, ITEM_TAGS, Walker

# Tuning, measured on the benchmark pages (rules, never pages).
MAX_LINK_DENSITY = 0.5  # a block with more anchor text than this share is navigation
WRAPPER_SHARE = 0.5  # a marked element holding more of the prose than this is a wrapper
SEMANTIC_SHARE = 0.6  # an <article>/<main>/articleBody holding this share is the container
DESCEND_SHARE = 0.8  # else descend into a child holding this share of its parent's prose
MIN_PROSE_BLOCKS = 2  # ... and at least this many prose blocks (one paragraph is no article)
LEDE_LEVELS = 2  # the lede is looked for this many levels above the container
MIN_PROSE_CHARS = 25  # shorter blocks are labels, not prose
LABEL_CHARS = 40  # a line this short that ends no sentence introduces what follows
DATELINE_CHARS, DATELINE_DIGITS = 30, 0.3  # a line this short with this share of digits is a date


def _prose_weight(text: str, link_chars: int) -> int:
    """How much a block counts as article prose: its non-link characters; none for a label or
    a block that is mostly links."""
    size = len(text)
    return 0 if size < MIN_PROSE_CHARS or link_chars > MAX_LINK_DENSITY * size else size - link_chars


def _subtree_sums(parent: list[int], own: list[int]) -> list[int]:
    total = list(own)
    for element in range(len(parent) - 1, 0, -1):
        total[parent[element]] += total[element]
    return total


def _inside(parent: list[int], root: int) -> list[bool]:
    inside = [False] * len(parent)
    inside[root] = True
    for element in range(root + 1, len(parent)):
        inside[element] = inside[parent[element]]
    return inside


def _main_container(w: Walker, dead: list[bool], weights: list[int]) -> int:
    """The element whose subtree is the article (``html_simplify`` docstring, rule 2)."""
    own, count = [0] * len(w.parent), [0] * len(w.parent)
    for (owner, *_), weight in zip(w.blocks, weights, strict=True):
        if weight and not dead[owner]:
            own[owner] += weight
            count[owner] += 1
    total, count = _subtree_sums(w.parent, own), _subtree_sums(w.parent, count)
    for element in range(len(w.parent) - 1, 0, -1):  # the innermost: shares above 1/2 nest
        if w.semantic[element] and not dead[element] and total[element] >= SEMANTIC_SHARE * total[0] > 0:
            return element
    best = [0] * len(w.parent)  # each element's child holding the most prose
    for element in range(1, len(w.parent)):
        parent = w.parent[element]
        if not best[parent] or total[element] > total[best[parent]]:
            best[parent] = element
    current = 0
    while (
        (child := best[current])
        and total[child] >= DESCEND_SHARE * total[current]
        and count[child] >= MIN_PROSE_BLOCKS
    ):
        current = child
    return current


def _lede(w: Walker, container: int, dead: list[bool], weights: list[int], first: int) -> set[int]:
    """The run of prose, headings and images right before the container (boilerplate skipped),
    within ``LEDE_LEVELS`` levels above it: a title, a standfirst, a hero image."""
    root = container
    for _ in range(LEDE_LEVELS):
        root = max(w.parent[root], 0)
    zone, lede = _inside(w.parent, root), set()
    for index in range(first - 1, -1, -1):
        owner, text, _, tag = w.blocks[index]
        if dead[owner]:
            continue
        if not zone[owner] or not (text is None or weights[index] or tag in HEADING_TAGS):
            break
        lede.add(index)
    return lede


def _link_heavy(text: str, link_chars: int, group: int, chars: list[int], links: list[int]) -> bool:
    """Mostly anchor text; a list item or table cell is judged with its list or table (``group``,
    -1 for none): a link in a data table is content, a list of links is navigation."""
    if link_chars <= MAX_LINK_DENSITY * len(text):
        return False
    return group < 0 or links[group] > MAX_LINK_DENSITY * chars[group]


def _is_dateline(text: str) -> bool:
    """A short line of mostly digits: a date, a time, an issue number ("23.10.2018, 19:49")."""
    if len(text) > DATELINE_CHARS:
        return False
    return sum(c.isdigit() for c in text) >= DATELINE_DIGITS * len(text.replace(" ", ""))


def _is_label(text: str, tag: str) -> bool:
    """A heading, or a short line that ends no sentence ("Related posts:", "Tags"); list items
    and table cells are items, not labels."""
    if tag in HEADING_TAGS:
        return True
    return tag not in ITEM_TAGS and len(text) <= LABEL_CHARS and text[-1] not in ".!?\"'»“”)"


def select_blocks(w: Walker) -> list[bool]:
    """Which blocks of the walk make the article (``html_simplify`` docstring, rules 1-3)."""
    size = len(w.parent)
    weights = [_prose_weight(text, link) if text is not None else 0 for _, text, link, _ in w.blocks]
    own_prose, own_chars, own_links = [0] * size, [0] * size, [0] * size
    for (owner, text, link_chars, _), weight in zip(w.blocks, weights, strict=True):
        if text is not None:
            own_prose[owner] += weight
            own_chars[owner] += len(text)
            own_links[owner] += link_chars
    prose, chars, links = (_subtree_sums(w.parent, own) for own in (own_prose, own_chars, own_links))
    dead = [False] * size
    for e in range(1, size):
        dead[e] = dead[w.parent[e]] or (w.mark[e] and prose[e] <= WRAPPER_SHARE * prose[0])
    container = _main_container(w, dead, weights)
    inside = _inside(w.parent, container)
    first = next((i for i, block in enumerate(w.blocks) if inside[block[0]]), len(w.blocks))
    lede = _lede(w, container, dead, weights, first)

    keep: list[bool | None] = []  # None: not part of the article (boilerplate, outside, noise)
    seen: set[str] = set()
    for index, (owner, text, link_chars, tag) in enumerate(w.blocks):
        if dead[owner] or not (inside[owner] or index in lede):
            keep.append(None)
        elif text is None:
            keep.append(True)
        elif text in seen or (tag not in HEADING_TAGS and tag not in ITEM_TAGS and _is_dateline(text)):
            keep.append(None)  # a repeat or a date line: not content, but ends no section
        else:
            seen.add(text)
            group = owner
            while w.tag[group] in ITEM_TAGS:
                group = w.parent[group]
            group = group if group != owner and w.tag[group] in GROUP_TAGS else -1
            keep.append(not _link_heavy(text, link_chars, group, chars, links))
    candidates = [i for i, kept in enumerate(keep) if kept is not None]
    # a linked paragraph between two paragraphs of prose is part of the text
    for before, index, after in zip(candidates, candidates[1:], candidates[2:], strict=False):
        if keep[index] is False and w.blocks[index][3] == "p":
            keep[index] = bool(weights[before] and weights[after] and keep[before] and keep[after])
    # a label introduces what follows it: when that was dropped, so is the label (the page's
    # last block introduces nothing: it is no label)
    following = bool(candidates) and candidates[-1] == len(w.blocks) - 1
    for index in reversed(candidates):
        _, text, _, tag = w.blocks[index]
        if keep[index] and text is not None and not following and _is_label(text, tag):
            keep[index] = False
        following = keep[index]
    return [bool(kept) for kept in keep]
