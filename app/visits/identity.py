"""A visit's identity from all its frames (pure: no Redis, no models).

Each frame adds evidence to one hypothesis, the matched person or "unknown" (""), weighted by
the face's quality and by how far its distance is from the threshold (a face 0.01 under the
threshold says little; one 0.4 under says much). The identity is decided when one hypothesis
holds enough weight and most of it; once decided it only changes when another holds several
times more (hysteresis: one look-alike frame does not rename a visit). A correction ("not this
person", app/corrections/negatives.py) that refuses the decided person undecides it.

The visit's mean face may decide too (`with_mean`; VISIT_MEAN_FACES, per embedder): the
quality-weighted mean of its usable faces, matched against the gallery once it holds
`mean_faces` of them, names a visit its frames have not named after the person it matches,
provided at least one of its frames matched that person too. At camera quality a known
person's frames scatter around the threshold, and the blurred ones that land over it can hold
more than the 30% of the evidence that decide_share leaves, so the frames leave the visit
unnamed; their mean stays near the person (nearer than most frames, if rarely nearer than the
best one). A stranger's mean also drifts towards enrolled people (blurred faces look alike),
which is why a frame must agree, and why it is off for the embedders where it took more
strangers than it recognized people (docs/visits.md).
"""
from collections.abc import Callable
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
    mean_faces: int = 0              # VISIT_MEAN_FACES: usable faces before the visit's mean face may decide (0: never)


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


@dataclass(frozen=True)
class MeanMatch:
    """The person the visit's mean face matches (within MATCH_THRESHOLD, no correction refusing)."""
    person_id: str
    name: str
    distance: float
    confidence: float


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


def with_mean(identity: Identity, mean: MeanMatch | None, faces: int, evidence: dict[str, float],
              refused: set[str], rules: VisitRules) -> Identity:
    """The visit's identity once its mean face is heard: `identity` (from the frames' evidence)
    when it names a person, else the person the mean of its `faces` usable faces matches, once
    there are `rules.mean_faces` of them, when a frame matched them too (they hold evidence) and
    no correction of this frame refuses them."""
    if mean is None or not mean_may_name(identity, faces, rules) or mean.person_id in refused:
        return identity
    if evidence.get(mean.person_id, 0.0) <= 0:
        return identity
    return Identity(mean.person_id, mean.name, True, round(mean.confidence, 4))


def mean_may_name(identity: Identity, faces: int, rules: VisitRules) -> bool:
    """Whether the mean of a visit's `faces` usable faces may name it (worth asking the gallery)."""
    return 0 < rules.mean_faces <= faces and not (identity.decided and identity.person_id is not None)


def after_look(evidence: dict[str, float], names: dict[str, str], current: Identity, by_mean: bool, look: Look,
               faces: int, mean_of: Callable[[], MeanMatch | None] | None, rules: VisitRules) -> tuple[Identity, bool]:
    """(the visit's identity after `look`, whether its mean face gave that name): `look` is
    accumulated into `evidence`; `current` is the identity before it, `by_mean` whether the mean
    face gave it; `faces` the visit's usable faces so far; `mean_of` asks the gallery for the
    visit's mean face (None: never asked), only when its answer could name the visit. A name the
    mean face gave stays until the frames name another person or a correction refuses it
    (hysteresis, as for a name the frames gave: the frames' "a stranger" outweighs it by design)."""
    accumulate(evidence, names, look, rules)
    frames = decided(evidence, names, current, look.refused, rules)
    if by_mean and current.person_id is not None and current.person_id not in look.refused:
        if frames.decided and frames.person_id == current.person_id:
            return frames, True      # the frames agree now: their confidence
        if not (frames.decided and frames.person_id is not None):
            return current, True
    if (mean_of is None or not look.usable or not mean_may_name(frames, faces, rules)
            or not any(weight > 0 for person, weight in evidence.items() if person != UNKNOWN)):
        return frames, False
    named = with_mean(frames, mean_of(), faces, evidence, look.refused, rules)
    return named, named != frames
