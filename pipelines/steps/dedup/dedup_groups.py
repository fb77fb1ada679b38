"""The global steps of dedup: group key rows by key, link duplicates, cluster, write drop lists.

``GroupKeys`` (one task per partition of the key rows, see ``dedup_keys``) decides per kind:

- *link* kinds (same URL, same MinHash band, same image set, same sha256): every member of a
  group of two or more is linked to the group's best member (newest ``date``, then smallest
  ``ref``); the links are written as edge rows to ``<out>/edges/<partition>.parquet``.
- *verified* kinds (perceptual-hash bands of image crops): members of a group are linked
  pairwise when ``image_signature.close_pairs`` confirms them from their hashes (``value``) and
  details (chroma thumbnails, content-box hashes), since a shared band only makes them
  candidates.
- *count* kinds (image URL per page, paragraph per domain): a key whose number of distinct
  ``value`` s (pages, documents) is above its limit is written to
  ``<out>/frequent/<partition>.parquet``.

``ClusterEdges`` (one task) reads all edges, finds the connected components (duplicates of
duplicates are one cluster, so two decisions never keep two different members of one cluster
and drop the rest), keeps each component's best member and writes the others to
``<out>/drops/<origin:05d>.parquet`` with the reason: the first, in ``KIND_NAMES`` order, of the
kinds of the links it took part in. Its memory is proportional to the number of duplicated
items, not to the dataset.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from filters.dedup.image_signature import close_pairs
from pipelines.steps.dedup.dedup_keys import KIND_NAMES, NUMBER_COLUMNS, detail_matrix, read_partition

EDGE_SCHEMA = pa.schema(
    [
        ("kind", pa.uint8()),
        ("a", pa.uint64()),
        ("a_date", pa.int64()),
        ("a_origin", pa.int32()),
        ("b", pa.uint64()),
        ("b_date", pa.int64()),
        ("b_origin", pa.int32()),
    ]
)
FREQUENT_SCHEMA = pa.schema([("kind", pa.uint8()), ("key", pa.uint64())])
DROP_SCHEMA = pa.schema([("ref", pa.uint64()), ("reason", pa.string())])


def _group_bounds(keys: np.ndarray) -> np.ndarray:
    """Start indices of runs of equal keys in a sorted array, plus the end."""
    if not len(keys):
        return np.zeros(1, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return np.r_[starts, len(keys)]


class GroupKeys(PipelineStep):
    """One partition of key rows -> edge rows (duplicates) and frequent keys."""

    name = "🧮 Dedup groups"
    type = "🫂 - DEDUP"

    def __init__(
        self,
        keys_folder: DataFolderLike,
        output_folder: DataFolderLike,
        link: tuple[int, ...] = (),
        verified: dict[int, tuple[int, int, int]] | None = None,
        count_limits: dict[int, int] | None = None,
    ):
        super().__init__()
        self.keys_folder = get_datafolder(keys_folder)
        self.output_folder = get_datafolder(output_folder)
        self.link = tuple(link)
        self.verified = dict(verified or {})  # kind -> close_pairs thresholds
        self.count_limits = dict(count_limits or {})  # kind -> most distinct values allowed

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time():
            table = read_partition(self.keys_folder, rank)
            self.stat_update("key_rows", value=table.num_rows)
            columns = {name: table.column(name).to_numpy() for name in NUMBER_COLUMNS + ("origin",)}
            edges: list[pa.Table] = [EDGE_SCHEMA.empty_table()]
            frequent: list[pa.Table] = [FREQUENT_SCHEMA.empty_table()]
            for kind in np.unique(columns["kind"]).tolist():
                mask = columns["kind"] == kind
                rows = {name: col[mask] for name, col in columns.items()}
                if kind in self.link:
                    edges.append(self.link_groups(kind, rows))
                elif kind in self.verified:
                    rows["detail"] = detail_matrix(table.column("detail").filter(pa.array(mask)))
                    edges.append(self.verified_pairs(kind, rows, *self.verified[kind]))
                elif kind in self.count_limits:
                    frequent.append(self.frequent_keys(kind, rows, self.count_limits[kind]))
                else:
                    raise ValueError(f"key rows of kind {kind} ({KIND_NAMES.get(kind)}) have no decision")
            edge_table = pa.concat_tables(edges)
            frequent_table = pa.concat_tables(frequent)
            self.stat_update("links", value=edge_table.num_rows)
            self.stat_update("frequent_keys", value=frequent_table.num_rows)
            with self.output_folder.open(f"edges/{rank:05d}.parquet", "wb") as f:
                pq.write_table(edge_table, f)
            with self.output_folder.open(f"frequent/{rank:05d}.parquet", "wb") as f:
                pq.write_table(frequent_table, f)
        return
        yield

    @staticmethod
    def _edges(kind: int, rows: dict[str, np.ndarray], a: np.ndarray, b: np.ndarray) -> pa.Table:
        """Edge rows from index arrays into ``rows``; self-links and repeats removed."""
        keep = rows["ref"][a] != rows["ref"][b]
        a, b = a[keep], b[keep]
        pairs = np.unique(np.stack([rows["ref"][a], rows["ref"][b]], axis=1), axis=0, return_index=True)[1]
        a, b = a[np.sort(pairs)], b[np.sort(pairs)]
        return pa.table(
            {
                "kind": np.full(len(a), kind, dtype=np.uint8),
                "a": rows["ref"][a],
                "a_date": rows["date"][a],
                "a_origin": rows["origin"][a],
                "b": rows["ref"][b],
                "b_date": rows["date"][b],
                "b_origin": rows["origin"][b],
            },
            schema=EDGE_SCHEMA,
        )

    def link_groups(self, kind: int, rows: dict[str, np.ndarray]) -> pa.Table:
        """Each member of a group linked to the group's best (newest, then smallest ref)."""
        order = np.lexsort((rows["ref"], -rows["date"], rows["key"]))
        bounds = _group_bounds(rows["key"][order])
        sizes = np.diff(bounds)
        best = np.repeat(order[bounds[:-1]], sizes)
        return self._edges(kind, rows, order, best)

    def verified_pairs(self, kind: int, rows: dict[str, np.ndarray], *thresholds: int) -> pa.Table:
        """Pairs of a group that ``close_pairs`` confirms, worse -> better."""
        order = np.lexsort((rows["ref"], -rows["date"], rows["key"]))
        bounds = _group_bounds(rows["key"][order])
        a_parts, b_parts = [], []
        for start, end in zip(bounds[:-1], bounds[1:], strict=True):
            if end - start < 2:
                continue
            members = order[start:end]  # best first
            better, worse = close_pairs(rows["value"][members], rows["detail"][members], *thresholds)
            a_parts.append(members[worse])
            b_parts.append(members[better])
        if not a_parts:
            return EDGE_SCHEMA.empty_table()
        return self._edges(kind, rows, np.concatenate(a_parts), np.concatenate(b_parts))

    @staticmethod
    def frequent_keys(kind: int, rows: dict[str, np.ndarray], limit: int) -> pa.Table:
        """Keys with more than ``limit`` distinct values."""
        pairs = np.unique(np.stack([rows["key"], rows["value"]], axis=1), axis=0)
        keys, counts = np.unique(pairs[:, 0], return_counts=True)
        over = keys[counts > limit]
        return pa.table(
            {"kind": np.full(len(over), kind, dtype=np.uint8), "key": over}, schema=FREQUENT_SCHEMA
        )


class ClusterEdges(PipelineStep):
    """All edges -> connected components -> drop lists per origin task (one task)."""

    name = "🕸️ Dedup clusters"
    type = "🫂 - DEDUP"

    def __init__(self, groups_folder: DataFolderLike, output_folder: DataFolderLike, origins: int):
        super().__init__()
        self.groups_folder = get_datafolder(groups_folder)
        self.output_folder = get_datafolder(output_folder)
        self.origins = origins

    def read_edges(self) -> pa.Table:
        tables = [EDGE_SCHEMA.empty_table()]
        for path in sorted(self.groups_folder.list_files("edges", glob_pattern="*.parquet")):
            with self.groups_folder.open(path, "rb") as f:
                tables.append(pq.read_table(f, schema=EDGE_SCHEMA))
        return pa.concat_tables(tables)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time():
            edges = {
                name: col.to_numpy()
                for name, col in zip(EDGE_SCHEMA.names, self.read_edges().columns, strict=True)
            }
            drops = self.drops(edges)
            for origin in range(self.origins):
                mine = drops[drops["origin"] == origin]
                table = pa.table(
                    {"ref": mine["ref"], "reason": [KIND_NAMES[int(k)] for k in mine["kind"]]},
                    schema=DROP_SCHEMA,
                )
                for kind, count in zip(*np.unique(mine["kind"], return_counts=True), strict=True):
                    self.stat_update(f"dropped_{KIND_NAMES[int(kind)]}", value=int(count))
                with self.output_folder.open(f"drops/{origin:05d}.parquet", "wb") as f:
                    pq.write_table(table, f)
        return
        yield

    def drops(self, edges: dict[str, np.ndarray]) -> np.ndarray:
        """Every linked item but its component's best: a record array of ref, origin, kind."""
        out_type = [("ref", np.uint64), ("origin", np.int32), ("kind", np.uint8)]
        if not len(edges["a"]):
            return np.zeros(0, dtype=out_type)
        refs = np.concatenate([edges["a"], edges["b"]])
        dates = np.concatenate([edges["a_date"], edges["b_date"]])
        origins = np.concatenate([edges["a_origin"], edges["b_origin"]])
        kinds = np.concatenate([edges["kind"], edges["kind"]])
        nodes, first, inverse = np.unique(refs, return_index=True, return_inverse=True)
        count = len(nodes)
        half = len(edges["a"])
        graph = coo_matrix(
            (np.ones(half, dtype=np.int8), (inverse[:half], inverse[half:])), shape=(count, count)
        )
        _, component = connected_components(graph, directed=False)
        # best of each component: newest date, then smallest ref (nodes are sorted by ref)
        node_date = dates[first]
        order = np.lexsort((nodes, -node_date, component))
        is_best = np.zeros(count, dtype=bool)
        is_best[order[np.r_[True, component[order][1:] != component[order][:-1]]]] = True
        # reason: the first kind (lowest number) among the node's links
        reason = np.full(count, 255, dtype=np.uint8)
        np.minimum.at(reason, inverse, kinds)
        dropped = np.flatnonzero(~is_best)
        out = np.zeros(len(dropped), dtype=out_type)
        out["ref"], out["origin"], out["kind"] = nodes[dropped], origins[first][dropped], reason[dropped]
        return out


def read_drops(folder: DataFolderLike, origin: int) -> dict[int, str]:
    """ref -> reason for the items task ``origin`` reads; empty when there is no list."""
    folder = get_datafolder(folder)
    path = f"drops/{origin:05d}.parquet"
    if not folder.exists(path):
        return {}
    with folder.open(path, "rb") as f:
        table = pq.read_table(f, schema=DROP_SCHEMA)
    return dict(zip(table.column("ref").to_pylist(), table.column("reason").to_pylist(), strict=True))


def read_frequent(folder: DataFolderLike) -> dict[int, set[int]]:
    """kind -> the keys over their limit, from every partition."""
    folder = get_datafolder(folder)
    out: dict[int, set[int]] = {}
    if not folder.isdir("frequent"):
        return out
    for path in sorted(folder.list_files("frequent", glob_pattern="*.parquet")):
        with folder.open(path, "rb") as f:
            table = pq.read_table(f, schema=FREQUENT_SCHEMA)
        for kind, key in zip(table.column("kind").to_pylist(), table.column("key").to_pylist(), strict=True):
            out.setdefault(kind, set()).add(key)
    return out
