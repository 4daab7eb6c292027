"""The JSON of the corrections and gallery health endpoints (app/api/corrections.py) and of a
person's face report (GET /people/{id}): pydantic models, as app/api/schemas.py, with `of`
constructors from the use cases' domain objects."""
from typing import Literal

from pydantic import BaseModel, Field

from app.api.schema_base import FromDomain
from app.gallery.identity import MAX_NAME_INPUT  # clean_name holds names to 200 after NFC
from app.usecases import gallery_health as huc


class CorrectionRequest(BaseModel):
    event_id: str = Field(max_length=45, description="from GET /events or the /recognize response")
    face_index: int = Field(ge=0, le=10_000, description="the face's place in the event's faces, from 0")
    not_person_id: str | None = Field(None, max_length=64, description="the face is NOT this person")
    person_id: str | None = Field(None, max_length=64, description="the face IS this enrolled person")
    name: str | None = Field(None, max_length=MAX_NAME_INPUT, description="the face is a new person of this name")


class CorrectionResponse(FromDomain):
    event_id: str
    face_index: int
    correction: Literal["not_person", "is_person"]
    person_id: str
    name: str
    face_id: str = Field(description="the event face's id: a negative example of the person, or their new face")
    created: bool = Field(description="a new person was made from the face")
    negatives: int = Field(description="the person's negative examples now")


class FaceReport(FromDomain):
    face_id: str
    nearest_other: float | None = Field(description="distance to the person's nearest other face")
    median_other: float | None = Field(description="median distance to the person's other faces")
    outlier: bool = Field(description="nearest_other over MATCH_THRESHOLD (none of the person's other faces would "
                                      "match it), with 3 faces or more: likely a wrong photo")
    quality: float | None = Field(None, description="the face's quality (0-1) from the crop kept with it; null "
                                                    "for faces enrolled before crops were kept")


class PersonFace(FromDomain):
    person_id: str
    name: str
    face_id: str


class LookAlike(BaseModel):
    a: PersonFace
    b: PersonFace
    distance: float = Field(description="between their nearest two faces, under MATCH_THRESHOLD")


class OutlierFace(PersonFace):
    nearest_other: float | None
    median_other: float | None


class GalleryHealthResponse(BaseModel):
    people: int
    faces: int
    threshold: float = Field(description="MATCH_THRESHOLD")
    look_alikes: list[LookAlike] = Field(description="pairs of people nearer than the threshold, nearest first")
    outliers: list[OutlierFace] = Field(description="faces far from the rest of their person's")

    @classmethod
    def of(cls, h: huc.GalleryHealth) -> "GalleryHealthResponse":
        return cls(people=h.people, faces=h.faces, threshold=h.threshold,
                   look_alikes=[LookAlike(a=PersonFace.of(p.a), b=PersonFace.of(p.b), distance=p.distance)
                                for p in h.look_alikes],
                   outliers=[OutlierFace(**PersonFace.of(o.face).model_dump(), nearest_other=o.report.nearest_other,
                                         median_other=o.report.median_other) for o in h.outliers])
