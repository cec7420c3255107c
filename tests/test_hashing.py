"""QuickXorHash and Digests: known vector, a literal reference, any split of the input."""

from __future__ import annotations

import base64
import hashlib
import itertools
import random

import pytest

from evidence.hashing import Digests, QuickXorHash

RANDOM = random.Random(20240611)
DATA = RANDOM.randbytes(200_003)  # several 40960-byte pieces and a ragged tail


def reference_quick_xor(data: bytes) -> str:
    """The algorithm as documented, byte by byte: slow, obviously right."""
    state = 0
    for index, byte in enumerate(data):
        shift = (11 * index) % 160
        state ^= ((byte << shift) | (byte >> (160 - shift))) & ((1 << 160) - 1)
    out = bytearray(state.to_bytes(20, "little"))
    for index, byte in enumerate(len(data).to_bytes(8, "little")):
        out[12 + index] ^= byte
    return base64.b64encode(bytes(out)).decode()


def quick_xor(*parts: bytes | bytearray | memoryview) -> str:
    hasher = QuickXorHash()
    for part in parts:
        hasher.update(part)
    return hasher.digest_base64()


def test_known_vector() -> None:
    assert quick_xor(b"hello world") == "aCgDG9jwBhDc4Q1yawMZAAAAAAA="


def test_empty_input_is_all_zero() -> None:
    assert quick_xor() == quick_xor(b"") == base64.b64encode(bytes(20)).decode()


@pytest.mark.parametrize(
    "size", [1, 19, 20, 21, 159, 160, 161, 320, 1000, 40_959, 40_960, 40_961, 81_921 + 7]
)
def test_matches_reference(size: int) -> None:
    assert quick_xor(DATA[:size]) == reference_quick_xor(DATA[:size])


@pytest.mark.parametrize(
    "chunk_size", [1, 3, 19, 20, 21, 159, 160, 161, 4_096, 40_959, 40_960, 40_961, 65_537]
)
def test_any_chunk_size_gives_the_same_hash(chunk_size: int) -> None:
    data = DATA if chunk_size > 100 else DATA[:20_011]  # keep tiny chunks quick
    parts = [data[at : at + chunk_size] for at in range(0, len(data), chunk_size)]
    assert quick_xor(*parts) == quick_xor(data) == reference_quick_xor(data)


@pytest.mark.parametrize("seed", range(8))
def test_random_split_points(seed: int) -> None:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(DATA)), rng.randint(1, 40)))
    bounds = [0, *cuts, len(DATA)]
    parts = [DATA[start:end] for start, end in itertools.pairwise(bounds)]
    assert quick_xor(*parts) == quick_xor(DATA)


def test_accepts_any_bytes_like_and_empty_updates() -> None:
    view = memoryview(DATA)
    assert quick_xor(bytearray(DATA[:500]), b"", view[500:1000], DATA[1000:]) == quick_xor(DATA)


def test_digest_leaves_the_hasher_usable() -> None:
    hasher = QuickXorHash()
    hasher.update(DATA[:777])
    middle = hasher.digest_base64()
    hasher.update(DATA[777:])
    assert middle == quick_xor(DATA[:777])
    assert hasher.digest_base64() == quick_xor(DATA)
    assert hasher.length == len(DATA)


def test_digests_count_and_hash_in_one_pass() -> None:
    digests = Digests(quick_xor=True)
    for at in range(0, len(DATA), 9_999):
        digests.update(DATA[at : at + 9_999])
    assert digests.size == len(DATA)
    assert digests.sha256 == hashlib.sha256(DATA).hexdigest()
    assert digests.quick_xor_hash == quick_xor(DATA)


def test_digests_skip_quick_xor_unless_asked() -> None:
    digests = Digests()
    digests.update(b"abc")
    assert digests.quick_xor_hash is None
    assert digests.sha256 == hashlib.sha256(b"abc").hexdigest()
