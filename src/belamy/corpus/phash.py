"""Perceptual hashes (pHash and dHash, 64 bits each) and grouping of near duplicates.

Two copies of one painting (re-encoded, resized, slightly recropped) get hashes a few bits apart;
different paintings are typically 20-40 bits apart.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_DCT_N = 32


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II basis: ``M @ x`` is the DCT of a length-n signal."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT = _dct_matrix(_DCT_N)


def _gray(img: Image.Image | np.ndarray, side: tuple[int, int]) -> np.ndarray:
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    return np.asarray(img.convert("L").resize(side, Image.Resampling.BOX), dtype=np.float64)


def _pack(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits.astype(np.uint8).ravel()).tobytes(), "big")


def phash(img: Image.Image | np.ndarray) -> int:
    """64-bit DCT hash: the sign of the 8×8 lowest frequencies (DC left out) against their median."""
    g = _gray(img, (_DCT_N, _DCT_N))
    coeffs = (_DCT @ g @ _DCT.T)[:8, :8].ravel()
    ac = coeffs[1:]
    bits = coeffs > np.median(ac)
    bits[0] = False  # the DC term says only how bright the picture is
    return _pack(bits)


def dhash(img: Image.Image | np.ndarray) -> int:
    """64-bit gradient hash: is each pixel brighter than its right neighbour (on a 9×8 thumbnail)."""
    g = _gray(img, (9, 8))
    return _pack(g[:, 1:] > g[:, :-1])


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _pairwise_within(hashes: np.ndarray, distance: int, block: int = 2048) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose 64-bit hashes differ in at most ``distance`` bits (blocked, O(n²/block) memory)."""
    pairs: list[tuple[int, int]] = []
    n = len(hashes)
    for start in range(0, n, block):
        chunk = hashes[start : start + block]
        x = chunk[:, None] ^ hashes[None, start:]
        d = np.bitwise_count(x) if hasattr(np, "bitwise_count") else _popcount(x)
        ii, jj = np.nonzero(d <= distance)
        jj = jj + start
        ii = ii + start
        keep = jj > ii
        pairs.extend(zip(ii[keep].tolist(), jj[keep].tolist(), strict=True))
    return pairs


def _popcount(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64)
    count = np.zeros(x.shape, dtype=np.uint8)
    for shift in range(0, 64, 8):
        count += _BYTE_POP[((x >> np.uint64(shift)) & np.uint64(0xFF)).astype(np.uint8)]
    return count


_BYTE_POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def duplicate_groups(
    exact_keys: list[str], phashes: list[int], dhashes: list[int], distance: int
) -> list[list[int]]:
    """Groups (2+ indices, each sorted, groups ordered by first member) of the same picture.

    Two images are the same when their ``exact_keys`` (a hash of the decoded pixels) are equal, or,
    with ``distance`` ≥ 0, when their pHash differs in at most ``distance`` bits AND their dHash in at
    most ``2 * distance + 2``: requiring both keeps apart unrelated paintings with similar layouts (a
    dark ground, a face in the middle), while a re-encoded or resized copy passes both.
    """
    n = len(exact_keys)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    first: dict[str, int] = {}
    for i, key in enumerate(exact_keys):
        union(first.setdefault(key, i), i)
    if distance >= 0 and n > 1:
        ph = np.array(phashes, dtype=np.uint64)
        for i, j in _pairwise_within(ph, distance):
            if hamming(dhashes[i], dhashes[j]) <= 2 * distance + 2:
                union(i, j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])
