"""A visit's identity from all its frames (pure: no Redis, no models).

Each frame adds evidence to one hypothesis, the matched person or "unknown" (""), weighted by
the face's quality and by how far its distance is from the threshold (a face 0.01 under the
threshold says little; one 0.4 under says much). The identity is decided when one hypothesis
holds enough weight and most of it; once decided it only changes when another holds several
times more (hysteresis: one look-alike frame does not rename a visit). A correction ("not this
person", app/corrections/negatives.py) that refuses the decided person undecides it.
"""
from dataclasses import dataclass, field

UNKNOWN = ""   # the "stranger" hypothesis in TrackState.evidence


@dataclass(frozen=True)
class VisitRules:
    threshold: float                 # MATCH_THRESHOLD
    margin_scale: float = 0.3        # distance under the threshold that counts fully
    decide_weight: float = 0.5       # VISIT_DECIDE_WEIGHT: evidence a person needs to be decided
    unknown_weight: float = 1.5      # VISIT_UNKNOWN_WEIGHT: evidence "unknown" needs
    decide_share: float = 0.7        # VISIT_DECIDE_SHARE: of all the visit's evidence
    switch_factor: float = 2.0       # VISIT_SWITCH_FACTOR: a decided identity yields to one this many times heavier
    near_miss: float = 0.1           # VISIT_NEAR_MISS: an unknown face this little over the threshold is no evidence


@dataclass
class Look:
    """One frame's face as identity evidence."""
    quality: float
    person_id: str | None = None     # the match (None: unknown, or too poor to match)
    name: str | None = None
    distance: float | None = None    # of the match, else of the nearest candidate (None: no candidate)
    refused: set[str] = field(default_factory=set)   # near people a correction refused for this face
    usable: bool = True              # False: under MIN_MATCH_QUALITY, no evidence


def weight(look: Look, rules: VisitRules) -> float:
    """How much this frame says: quality x (a quarter, plus the distance margin in [0, 1]).
    A near miss (unknown, its nearest person less than `near_miss` over the threshold, no
    correction involved) says nothing: at camera quality a known person's small or blurred face
    often lands just over the threshold, and counting it as "a stranger" outvoted the frames
    that did match (bench/bench_visits.py, hard set)."""
    if not look.usable:
        return 0.0
    if look.distance is None:
        return look.quality * 1.25 if look.person_id is None else 0.0
    if look.person_id is None and not look.refused and look.distance - rules.threshold < rules.near_miss:
        return 0.0
    margin = abs(rules.threshold - look.distance) / rules.margin_scale
    return look.quality * (0.25 + min(1.0, margin))


@dataclass
class Identity:
    person_id: str | None
    name: str | None
    decided: bool
    confidence: float


def accumulate(evidence: dict[str, float], names: dict[str, str], look: Look, rules: VisitRules) -> None:
    """Adds `look` to `evidence` ({person id or UNKNOWN: weight}); refused people lose weight."""
    for person in look.refused:
        if person in evidence:
            evidence[person] = max(0.0, evidence[person] - max(look.quality, 0.5))
    w = weight(look, rules)
    if w <= 0:
        return
    key = look.person_id if look.person_id is not None else UNKNOWN
    evidence[key] = round(evidence.get(key, 0.0) + w, 4)
    if look.person_id is not None and look.name is not None:
        names[look.person_id] = look.name


def decided(evidence: dict[str, float], names: dict[str, str], current: Identity, refused: set[str],
            rules: VisitRules) -> Identity:
    """The visit's identity after its evidence changed; `current`: the one before."""
    total = sum(evidence.values())
    if total <= 0:
        return Identity(None, None, False, 0.0)
    best = max(evidence, key=lambda name: evidence[name])
    share = evidence[best] / total
    need = rules.unknown_weight if best == UNKNOWN else rules.decide_weight
    holds = evidence[best] >= need and share >= rules.decide_share
    if current.decided:
        key = current.person_id if current.person_id is not None else UNKNOWN
        if key not in refused and best != key and evidence[best] < rules.switch_factor * evidence.get(key, 0.0):
            return Identity(current.person_id, current.name, True, round(evidence.get(key, 0.0) / total, 4))
        if key not in refused and best == key:
            return Identity(current.person_id, current.name, True, round(share, 4))
    if not holds:
        return Identity(None, None, False, round(share, 4))
    if best == UNKNOWN:
        return Identity(None, None, True, round(share, 4))
    return Identity(best, names.get(best), True, round(share, 4))
