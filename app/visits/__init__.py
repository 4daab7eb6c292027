"""Visits, not frames: the faces of one camera's consecutive frames joined into tracks
(tracks.py), each track's identity accumulated over its frames (identity.py), kept in Redis so
that any worker continues any camera's tracks (store.py).

    tracker = VisitTracker(redis, "fr:", VisitRules(...))
    tracks = tracker.observe("door", now, sightings)     # one TrackState per face, in order
"""
from app.visits.identity import Look, VisitRules
from app.visits.store import VisitStore
from app.visits.tracks import Sighting, TrackState

__all__ = ["Look", "Sighting", "TrackState", "VisitRules", "VisitStore"]
