"""Matching: Euclidean distances between unit vectors, each person ranked by their nearest face,
and the one "same person" rule with its confidence."""
import math

import numpy as np
import pytest

from app.gallery.search.matching import MatchRule, distances, nearest_per_label, rank_people
from samples.vectors import near, unit


def test_distances_are_euclidean_between_unit_vectors():
    rng = np.random.default_rng(0)
    matrix, query = unit(50, rng), unit(1, rng)[0]
    np.testing.assert_allclose(distances(query, matrix), np.linalg.norm(matrix - query, axis=1), atol=1e-5)
    assert distances(query, np.zeros((0, 128), np.float32)).shape == (0,)
    assert distances(matrix[3], matrix)[3] == 0.0  # never the NaN of sqrt(-tiny) for itself


def test_a_person_is_as_near_as_their_nearest_face():
    rng = np.random.default_rng(1)
    matrix = unit(6, rng)
    labels = ["ann", "ann", "bob", "bob", "cy", "cy"]
    query = near(matrix[3], rng, 0.3)  # Bob's second face
    ranked = rank_people(query, matrix, labels, 3)
    assert [r[0] for r in ranked][0] == "bob" and ranked[0][2] == 3
    assert abs(ranked[0][1] - 0.3) < 1e-4
    assert len({r[0] for r in ranked}) == 3  # each person once
    assert [r[1] for r in ranked] == sorted(r[1] for r in ranked)
    for label, distance, row in ranked:
        rows = [i for i, lab in enumerate(labels) if lab == label]
        assert row in rows and distance == pytest.approx(min(np.linalg.norm(matrix[i] - query) for i in rows), abs=1e-5)


def test_k_beyond_the_people_gives_everyone_once():
    rng = np.random.default_rng(2)
    matrix = unit(10, rng)
    labels = ["a"] * 9 + ["b"]
    assert {r[0] for r in rank_people(unit(1, rng)[0], matrix, labels, 5)} == {"a", "b"}
    assert rank_people(unit(1, rng)[0], np.zeros((0, 128), np.float32), [], 3) == []


def test_people_beyond_the_nearest_few_faces_are_still_found():
    """The nearest 8k+32 faces all belong to one person: the search widens to the whole list."""
    d = np.concatenate([np.linspace(0.1, 0.5, 200), [0.9, 1.0]]).astype(np.float32)
    labels = np.array([0] * 200 + [1, 2])
    assert nearest_per_label(d, labels, 3).tolist() == [0, 200, 201]


def test_the_match_rule_decides_on_the_threshold_and_maps_it_to_one_half():
    rule = MatchRule(1.1)
    assert rule.same_person(1.1) and rule.same_person(0.2) and not rule.same_person(1.1001)
    assert rule.confidence(1.1) == 0.5
    assert rule.confidence(1.0) == pytest.approx(1 / (1 + math.exp(-1)))  # ~0.73 one scale nearer
    assert rule.confidence(1.2) == pytest.approx(1 / (1 + math.exp(1)))   # ~0.27 one scale farther
    assert rule.confidence(0.0) > rule.confidence(0.5) > rule.confidence(2.0) > 0
