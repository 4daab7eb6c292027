"""The JSON of visits: a face's quality parts and a track (a visit's identity so far), in
/recognize's faces and GET /tracks/{id}."""
from pydantic import BaseModel, Field


class QualityParts(BaseModel):
    eye_distance_px: float = Field(description="distance between the eyes, in pixels of the frame")
    sharpness: float = Field(description="Laplacian variance of the aligned 64 px face over its intensity variance")
    yaw: float = Field(description="degrees, estimated from the landmarks (0: frontal)")
    pitch: float = Field(description="degrees, estimated from the landmarks (0: frontal)")
    detector_score: float


class Track(BaseModel):
    id: str
    person_id: str | None = Field(description="the visit's person once decided; null while undecided or a stranger")
    name: str | None
    confidence: float = Field(description="the share of the visit's evidence held by its leading identity")
    decided: bool = Field(description="true once decided: a person, or (person_id null) a stranger")
    frames: int
    first_seen: float = Field(description="Unix epoch seconds (the frames' timestamp)")
    last_seen: float

    @classmethod
    def of(cls, track) -> "Track | None":
        return cls(**track.public()) if track is not None else None
