"""The JSON the API answers with, as pydantic models: every response is built through
these (so it matches them), and /openapi.json is generated from them."""
from pydantic import BaseModel, Field

LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class Box(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float


class Candidate(BaseModel):
    person_id: str
    name: str
    distance: float = Field(description="Euclidean distance between unit embeddings, 0 (same) to 2")
    confidence: float = Field(description="1 / (1 + exp((distance - MATCH_THRESHOLD) / 0.1)): 0.5 at the threshold")


class DetectedFace(BaseModel):
    box: Box
    score: float
    landmarks: dict[str, tuple[float, float]] = Field(description="x, y of " + ", ".join(LANDMARKS))


class RecognizedFace(DetectedFace):
    match: Candidate | None = Field(description="the nearest enrolled person within MATCH_THRESHOLD; null = unknown")
    candidates: list[Candidate] = Field(description="the TOP_K nearest people, nearest first")


class RecognizeResponse(BaseModel):
    camera_id: str | None
    event_id: str
    width: int
    height: int
    preprocessor: str
    faces: list[RecognizedFace]
    timing_ms: dict[str, float]


class DetectResponse(BaseModel):
    width: int
    height: int
    preprocessor: str
    faces: list[DetectedFace]
    timing_ms: dict[str, float]


class EnrolledFace(BaseModel):
    face_id: str
    box: Box
    score: float


class EnrollResponse(BaseModel):
    person_id: str
    name: str
    created: bool = Field(description="true when this request created the person")
    faces: list[EnrolledFace]


class VerifyResponse(BaseModel):
    distance: float
    same_person: bool
    confidence: float
    threshold: float
    person_id: str | None = None
    faces: list[DetectedFace] = Field(description="the largest face of each image used")


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


class Rename(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class Deleted(BaseModel):
    deleted: str


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]
    preprocessor: str
    model_backend: str


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class EmbeddedFace(DetectedFace):
    embedding: list[float] = Field(description="128 floats, unit length")


class EmbedResponse(BaseModel):
    model: str = Field(description="what made the embeddings; compare only embeddings of the same model")
    width: int
    height: int
    faces: list[EmbeddedFace]


class GalleryFace(BaseModel):
    face_id: str = Field(min_length=1, max_length=64)
    embedding: str = Field(description="base64 of 128 float32, little-endian")
    thumbnail: str = Field("", description="base64 JPEG, may be empty")


class GalleryPerson(BaseModel):
    person_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    created_at: str | None = None
    faces: list[GalleryFace]


class GalleryFile(BaseModel):
    format: str = "facerec-gallery/1"
    model: str
    people: list[GalleryPerson]


class ImportReport(BaseModel):
    people_created: int
    faces_added: int
    skipped: list[str] = Field(description="what was not imported, and why")
