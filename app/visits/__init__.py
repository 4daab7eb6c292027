"""Visits, not frames: the faces of one camera's consecutive frames joined into tracks
(tracks.py), each track's identity accumulated over its frames (identity.py), one frame's
outcome for a camera's tracks (camera.py), kept in Redis so that any worker continues any
camera's tracks (store.py).

    visits = VisitStore(redis, "fr:", TrackRules(...), VisitRules(...))
    outcome = visits.observe("door", now, sightings, looks)   # outcome.faces: one TrackState per face, in order
"""
from app.visits.identity import Look, VisitRules
from app.visits.store import VisitStore
from app.visits.tracks import Sighting, TrackState

__all__ = ["Look", "Sighting", "TrackState", "VisitRules", "VisitStore"]
