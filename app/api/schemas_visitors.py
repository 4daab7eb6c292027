"""The JSON of the unknown visitors' endpoints (pydantic models, as app/api/schemas.py), with
`of` constructors from the use cases' domain objects."""
from pydantic import BaseModel, Field

from app.api.schema_base import FromDomain
from app.gallery.identity import MAX_NAME_INPUT  # clean_name holds names to 200 after NFC
from app.visitors.store import Visitor as DomainVisitor


class Sighting(FromDomain):
    sighting_id: str = Field(description="its thumbnail: GET /visitors/{id}/sightings/{sighting_id}/thumbnail")
    camera_id: str
    time: float = Field(description="Unix time")
    score: float = Field(description="detection score")
    size: float = Field(description="shorter side of the face box, pixels")
    quality: float = Field(description="score x size (size capped at 160): the best are enrolled when named")


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
    name: str | None = Field(None, description="enroll the visitor as a new person of this name",
                             max_length=MAX_NAME_INPUT)
    person_id: str | None = Field(None, description="or add the visitor's faces to this enrolled person",
                                  max_length=64)


class NamedVisitor(FromDomain):
    visitor_id: str = Field(description="retired: it is no longer listed")
    person_id: str
    name: str
    created: bool = Field(description="true when a new person was made")
    face_ids: list[str] = Field(description="the faces enrolled (the visitor's best, VISITOR_ENROLL_FACES at most)")
