"""The candidate index of large galleries: a 4-bit product quantizer trained on the gallery's
vectors, 32-byte codes per face, a fast-scan index that ranks rows by approximate distance
(faiss, on random unit vectors; no Redis)."""
import numpy as np

from app.gallery.search import candidates as pq
from app.gallery.search.candidates import CandidateIndex
from samples.vectors import near, unit


def test_only_galleries_from_min_rows_on_want_an_index():
    index = CandidateIndex(min_rows=1000)
    assert not index.wanted(999) and index.wanted(1000)


def test_codes_are_32_bytes_a_face_and_survive_serialization():
    rng = np.random.default_rng(0)
    vectors = unit(2000, rng)
    quantizer = CandidateIndex(train_rows=1000).quantizer(vectors)
    assert (quantizer.d, quantizer.pq.M, quantizer.pq.nbits) == (128, 64, 4)
    codes = pq.codes(quantizer, vectors)
    assert codes.shape == (2000, 32) and codes.dtype == np.uint8
    data = pq.serialize(quantizer)
    assert 0 < len(data) < 20_000   # the trained quantizer without rows
    again = pq.deserialize(data)
    np.testing.assert_array_equal(pq.codes(again, vectors[:50]), codes[:50])
    assert pq.deserialize(pq.serialize(None)) is None and pq.search_index(None, codes) is None


def test_a_quantizer_is_kept_for_its_dimension_and_retrained_for_another():
    rng = np.random.default_rng(1)
    settings = CandidateIndex()
    first = settings.quantizer(unit(600, rng))
    assert settings.quantizer(unit(600, rng), previous=first) is first
    other = settings.quantizer(unit(600, rng, dim=100), previous=first)
    assert other is not first and other.d == 100 and 100 % other.pq.M == 0 and other.pq.M == 50


def test_the_ranked_rows_put_a_probe_s_face_among_the_first_candidates():
    rng = np.random.default_rng(2)
    vectors = unit(5000, rng)
    settings = CandidateIndex(candidates=256, wide=1024)
    quantizer = settings.quantizer(vectors)
    index = pq.search_index(quantizer, pq.codes(quantizer, vectors))
    targets = rng.choice(len(vectors), 50, replace=False)
    for target in targets:
        ranked = settings.ranked_rows(index, near(vectors[target], rng, 0.7), len(vectors))
        assert len(ranked) == 1024 and len(set(ranked.tolist())) == 1024
        assert target in ranked[:settings.candidates]
    assert len(settings.ranked_rows(index, vectors[0], 10)) == 10  # never more rows than asked for
