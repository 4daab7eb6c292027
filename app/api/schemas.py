"""The JSON the native API answers with, as pydantic models: every response is built through
these (so it matches them), and /openapi.json is generated from them. The `of` constructors
turn the use cases' domain objects into responses."""
from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from app.api.schemas_corrections import FaceReport
from app.api.schemas_visits import QualityParts, Track
from app.gallery.identity import MAX_NAME_INPUT  # clean_name holds names to 200 after NFC
from app.pipeline import Face
from app.usecases import recognition as uc  # the use cases' domain objects

LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class Box(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float

    @classmethod
    def of(cls, box) -> "Box":
        return cls(**dict(zip(("x1", "y1", "x2", "y2"), (round(float(v), 1) for v in box))))


class Candidate(BaseModel):
    person_id: str
    name: str
    distance: float = Field(description="Euclidean distance between unit embeddings, 0 (same) to 2")
    confidence: float = Field(description="1 / (1 + exp((distance - MATCH_THRESHOLD) / 0.1)): 0.5 at the threshold")
    face_id: str = Field(description="the person's enrolled face nearest to this one (the one that matched)")

    @classmethod
    def of(cls, c: uc.Candidate) -> "Candidate":
        return cls(person_id=c.person_id, name=c.name, distance=round(c.distance, 4),
                   confidence=round(c.confidence, 4), face_id=c.face_id)


class DetectedFace(BaseModel):
    box: Box
    score: float
    landmarks: dict[str, tuple[float, float]] = Field(description="x, y of " + ", ".join(LANDMARKS))

    @classmethod
    def fields_of(cls, face: Face) -> dict:
        marks = {name: (round(float(x), 1), round(float(y), 1)) for name, (x, y) in zip(LANDMARKS, face.landmarks)}
        return {"box": Box.of(face.box), "score": round(face.score, 4), "landmarks": marks}

    @classmethod
    def of(cls, face: Face) -> "DetectedFace":
        return cls(**cls.fields_of(face))


class RecognizedFace(DetectedFace):
    match: Candidate | None = Field(description="the nearest enrolled person within MATCH_THRESHOLD; null = unknown")
    candidates: list[Candidate] = Field(description="the TOP_K nearest people, nearest first")
    visitor_id: str | None = Field(None, description="an unknown face kept: the visitor it is (GET /visitors/{id})")
    quality: float = Field(description="0 (useless) to 1: the product of the quality_parts' scores")
    quality_parts: QualityParts
    reason: str | None = Field(description='"low_quality": under MIN_MATCH_QUALITY, so never matched; '
                                           '"gallery_unavailable": Redis unreachable and this worker has no copy '
                                           'of the gallery; else null')
    track_id: str | None = Field(description="the face's visit (GET /tracks/{id}); null when tracks are unavailable")
    track: Track | None = Field(description="the visit's identity so far, from all its frames")

    @classmethod
    def of_recognized(cls, f: uc.RecognizedFace) -> "RecognizedFace":
        q = f.face.quality
        assert q is not None   # recognition assesses every face
        return cls(**DetectedFace.fields_of(f.face), match=Candidate.of(f.match) if f.match else None,
                   candidates=[Candidate.of(c) for c in f.candidates], visitor_id=f.visitor_id,
                   quality=q.quality, quality_parts=QualityParts(**q.parts()), reason=f.reason,
                   track_id=f.track.id if f.track else None, track=Track.of(f.track))


class Degraded(BaseModel):
    redis: str = Field(description='"unreachable": Redis could not be reached (refused, timed out)')
    gallery_age_s: float | None = Field(description="seconds since this worker's copy of the gallery was last in "
                                                    "step with Redis; null: it has none (every match is null)")


class RecognizeResponse(BaseModel):
    camera_id: str | None
    event_id: str | None = Field(description="the event recorded (GET /events); null when Redis had no room for it "
                                             "or was unreachable")
    width: int
    height: int
    preprocessor: str
    faces: list[RecognizedFace]
    timing_ms: dict[str, float] = Field(description="decode, sync (the gallery), detect, embed, quality, match, "
                                                    "track, visitors, total")
    degraded: Degraded | None = Field(None, description="set when Redis was unreachable: the frame was matched "
                                                        "against this worker's last copy of the gallery, without "
                                                        "tracks, event or visitor sightings; null normally")

    @classmethod
    def of(cls, r: uc.Recognition, preprocessor: str) -> "RecognizeResponse":
        faces = [RecognizedFace.of_recognized(f) for f in r.faces]
        degraded = Degraded(redis=r.degraded.redis, gallery_age_s=r.degraded.gallery_age_s) if r.degraded else None
        return cls(camera_id=r.camera_id, event_id=r.event_id, width=r.frame.width, height=r.frame.height,
                   preprocessor=preprocessor, faces=faces, timing_ms=r.timing_ms, degraded=degraded)


class DetectResponse(BaseModel):
    width: int
    height: int
    preprocessor: str
    faces: list[DetectedFace]
    timing_ms: dict[str, float]

    @classmethod
    def of(cls, a: uc.Analysis, preprocessor: str) -> "DetectResponse":
        return cls(width=a.frame.width, height=a.frame.height, preprocessor=preprocessor,
                   faces=[DetectedFace.of(f) for f in a.frame.faces], timing_ms=a.timing_ms)


class EmbeddedFace(DetectedFace):
    embedding: list[float] = Field(
        description="unit length; 128 floats (facenet, sface) or 256 (facenet+sface, dlib+sface)")


class EmbedResponse(BaseModel):
    model: str = Field(description="what made the embeddings; compare only embeddings of the same model")
    width: int
    height: int
    faces: list[EmbeddedFace]

    @classmethod
    def of(cls, a: uc.Analysis, model: str) -> "EmbedResponse":
        faces = [EmbeddedFace(**DetectedFace.fields_of(f), embedding=[round(float(v), 7) for v in f.vector])
                 for f in a.frame.faces]
        return cls(model=model, width=a.frame.width, height=a.frame.height, faces=faces)


class EnrolledFace(BaseModel):
    face_id: str
    box: Box
    score: float


class EnrollResponse(BaseModel):
    person_id: str
    name: str
    created: bool = Field(description="true when this request created the person")
    faces: list[EnrolledFace]

    @classmethod
    def of(cls, e: uc.Enrollment) -> "EnrollResponse":
        return cls(person_id=e.person_id, name=e.name, created=e.created,
                   faces=[EnrolledFace(face_id=fid, box=Box.of(f.box), score=round(f.score, 4)) for fid, f in e.faces])


class VerifyResponse(BaseModel):
    distance: float
    same_person: bool
    confidence: float
    threshold: float
    person_id: str | None = None
    faces: list[DetectedFace] = Field(description="the largest face of each image used")

    @classmethod
    def of(cls, v: uc.Verification) -> "VerifyResponse":
        return cls(distance=round(v.distance, 4), same_person=v.same_person, confidence=round(v.confidence, 4),
                   threshold=v.threshold, person_id=v.person_id, faces=[DetectedFace.of(f) for f in v.faces])


class PersonSummary(BaseModel):
    person_id: str
    name: str
    created_at: str
    updated_at: str
    face_count: int


class PeopleResponse(BaseModel):
    count: int
    people: list[PersonSummary]


class PersonDetail(BaseModel):
    person_id: str
    name: str
    created_at: str
    updated_at: str
    faces: list[str]
    face_report: list[FaceReport] = Field([], description="per face: distances to the person's other faces, "
                                                          "and whether it is an outlier (likely a wrong photo)")


class Rename(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_NAME_INPUT)


class Deleted(BaseModel):
    deleted: str


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str] = Field(description="each part: \"ok\" or what is wrong with it; `gallery` says "
                                               "gallery_model_mismatch naming both models, or reembedding")
    preprocessor: str
    embedder: str
    model: str = Field(description="what this worker's embeddings are (network, crop or alignment)")
    gallery_model: str | None = Field(description="what the gallery's embeddings are; null for an empty gallery")
    model_backend: str


class EventFace(BaseModel):
    person_id: str | None
    name: str | None
    distance: float | None = Field(description="to the nearest enrolled person; null with an empty gallery")
    box: list[float] = Field(description="x1, y1, x2, y2")
    thumbnail: str | None = Field(description="id for GET /events/thumbnails/{id}; null when it was left out")
    visitor_id: str | None = Field(None, description="an unknown face kept: its visitor")
    track_id: str | None = Field(None, description="the visit the face belonged to (GET /tracks/{id})")
    quality: float | None = Field(None, description="the face's quality, 0 to 1")


class Event(BaseModel):
    event_id: str
    camera_id: str
    time: float = Field(description="Unix time")
    faces: list[EventFace]


class EventsResponse(BaseModel):
    events: list[Event]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every error of the native API has this shape."""
    error: ErrorBody

    @classmethod
    def body(cls, code: str, message: str) -> dict:
        return cls(error=ErrorBody(code=code, message=message)).model_dump()


class GalleryCrop(BaseModel):
    """The enrolled face with a wide margin, kept so that it can be embedded again by another model."""
    image: str = Field(max_length=1_400_000, description="base64 JPEG (at most 1 MB)")
    box: list[float] = Field(min_length=4, max_length=4, description="x1, y1, x2, y2 of the detector's box, "
                                                                      "in the crop's pixels")
    landmarks: list[list[float]] = Field(min_length=5, max_length=5, description="5 x [x, y] in the crop's pixels: "
                                         "left eye, right eye, nose, mouth left, mouth right")


class GalleryFace(BaseModel):
    face_id: str = Field(min_length=1, max_length=64)
    embedding: str = Field(max_length=16_384, description="base64 of the model's float32 values (128 or 256), "
                                                          "little-endian")
    thumbnail: str = Field("", max_length=1_400_000, description="base64 JPEG, may be empty")
    crop: GalleryCrop | None = Field(None, description="absent for faces enrolled before crops were kept")


class GalleryPerson(BaseModel):
    person_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=MAX_NAME_INPUT)
    created_at: str | None = Field(None, max_length=40, description="ISO 8601")
    faces: list[GalleryFace]

    @field_validator("created_at")
    @classmethod
    def _a_time(cls, value: str | None) -> str | None:
        # kept when it is a time; other text (it would be shown back on GET /people) is dropped,
        # the person then dated by the import: a file is not refused for it, a restore must work
        if not value:
            return value
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return None
        return value


class GalleryFile(BaseModel):
    format: str = "facerec-gallery/1"
    model: str = Field(min_length=1, max_length=300,
                       description="what made the embeddings (network, crop or alignment); an import into an "
                                   "empty gallery adopts it, into another gallery it must be the gallery's")
    people: list[GalleryPerson]


class NotReembedded(BaseModel):
    person_id: str
    face_id: str
    reason: str


class ReembedStatus(BaseModel):
    status: str = Field(description="idle, running, interrupted (POST again to resume) or done")
    worker_model: str = Field(description="this worker's model: the one the gallery is re-embedded to")
    gallery: dict | None = Field(description="the gallery's model record: model, dim, state (ready or "
                                             "reembedding), previous; null for an empty gallery")
    people: int
    target: str | None = Field(description="the model of the last (or current) run")
    people_total: int
    people_done: int
    faces_done: int
    from_thumbnails: int = Field(description="faces without a kept crop, re-embedded from their thumbnail")
    not_reembedded: list[NotReembedded] = Field(description="faces removed because they could not be re-embedded")
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None


class ImportReport(BaseModel):
    people_created: int
    faces_added: int
    skipped: list[str] = Field(description="what was not imported, and why")
    names_kept: list[str] = Field(description="people already here under another name than the file's: the name "
                                              "here is kept (a rename here is newer than the file)")
