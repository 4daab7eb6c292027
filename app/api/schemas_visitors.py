"""The JSON of the unknown visitors, corrections and gallery health endpoints (pydantic models,
as app/api/schemas.py), with `of` constructors from the use cases' domain objects."""
from typing import Literal

from pydantic import BaseModel, Field

from app.gallery.visitors import Sighting as DomainSighting
from app.gallery.visitors import Visitor as DomainVisitor
from app.usecases import corrections as cuc
from app.usecases import gallery_health as huc
from app.usecases import visitors as vuc


class Sighting(BaseModel):
    sighting_id: str = Field(description="its thumbnail: GET /visitors/{id}/sightings/{sighting_id}/thumbnail")
    camera_id: str
    time: float = Field(description="Unix time")
    score: float = Field(description="detection score")
    size: float = Field(description="shorter side of the face box, pixels")
    quality: float = Field(description="score x size (size capped at 160): the best are enrolled when named")

    @classmethod
    def of(cls, s: DomainSighting) -> "Sighting":
        return cls(sighting_id=s.sighting_id, camera_id=s.camera_id, time=s.time, score=s.score, size=s.size,
                   quality=s.quality)


class VisitorSummary(BaseModel):
    visitor_id: str
    sightings: int = Field(description="sightings kept (VISITOR_MAX_SIGHTINGS, VISITOR_MAX_AGE_S)")
    first_seen: float = Field(description="Unix time of the oldest sighting kept")
    last_seen: float
    cameras: list[str]
    thumbnails: list[str] = Field(description="sighting ids of its best few faces")

    @classmethod
    def fields_of(cls, v: DomainVisitor) -> dict:
        return {"visitor_id": v.visitor_id, "sightings": v.sightings, "first_seen": v.first_seen,
                "last_seen": v.last_seen, "cameras": v.cameras, "thumbnails": [s.sighting_id for s in v.best[:3]]}


class VisitorsResponse(BaseModel):
    count: int = Field(description="visitors in all")
    offset: int
    visitors: list[VisitorSummary] = Field(description="the most recently seen first")


class VisitorDetail(VisitorSummary):
    best: list[Sighting] = Field(description="by quality, best first (up to 100)")
    recent: list[Sighting] = Field(description="newest first (up to 100)")

    @classmethod
    def of(cls, v: DomainVisitor) -> "VisitorDetail":
        return cls(**VisitorSummary.fields_of(v), best=[Sighting.of(s) for s in v.best[:100]],
                   recent=[Sighting.of(s) for s in v.recent])


class NameVisitor(BaseModel):
    name: str | None = Field(None, description="enroll the visitor as a new person of this name", max_length=200)
    person_id: str | None = Field(None, description="or add the visitor's faces to this enrolled person",
                                  max_length=64)


class NamedVisitor(BaseModel):
    visitor_id: str = Field(description="retired: it is no longer listed")
    person_id: str
    name: str
    created: bool = Field(description="true when a new person was made")
    face_ids: list[str] = Field(description="the faces enrolled (the visitor's best, VISITOR_ENROLL_FACES at most)")

    @classmethod
    def of(cls, n: vuc.NamedVisitor) -> "NamedVisitor":
        return cls(visitor_id=n.visitor_id, person_id=n.person_id, name=n.name, created=n.created, face_ids=n.face_ids)


class CorrectionRequest(BaseModel):
    event_id: str = Field(max_length=45, description="from GET /events or the /recognize response")
    face_index: int = Field(ge=0, le=10_000, description="the face's place in the event's faces, from 0")
    not_person_id: str | None = Field(None, max_length=64, description="the face is NOT this person")
    person_id: str | None = Field(None, max_length=64, description="the face IS this enrolled person")
    name: str | None = Field(None, max_length=200, description="the face is a new person of this name")


class CorrectionResponse(BaseModel):
    event_id: str
    face_index: int
    correction: Literal["not_person", "is_person"]
    person_id: str
    name: str
    face_id: str = Field(description="the event face's id: a negative example of the person, or their new face")
    created: bool = Field(description="a new person was made from the face")
    negatives: int = Field(description="the person's negative examples now")

    @classmethod
    def of(cls, c: cuc.Correction) -> "CorrectionResponse":
        return cls(event_id=c.event_id, face_index=c.face_index, correction=c.correction, person_id=c.person_id,
                   name=c.name, face_id=c.face_id, created=c.created, negatives=c.negatives)


class FaceReport(BaseModel):
    face_id: str
    nearest_other: float | None = Field(description="distance to the person's nearest other face")
    median_other: float | None = Field(description="median distance to the person's other faces")
    outlier: bool = Field(description="nearest_other over MATCH_THRESHOLD (none of the person's other faces would "
                                      "match it), with 3 faces or more: likely a wrong photo")

    @classmethod
    def of(cls, r: huc.FaceReport) -> "FaceReport":
        return cls(face_id=r.face_id, nearest_other=r.nearest_other, median_other=r.median_other, outlier=r.outlier)


class PersonFace(BaseModel):
    person_id: str
    name: str
    face_id: str

    @classmethod
    def of(cls, f: huc.PersonFace) -> "PersonFace":
        return cls(person_id=f.person_id, name=f.name, face_id=f.face_id)


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
