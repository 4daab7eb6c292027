"""Finding the enrolled people nearest to a probe in one worker's copy: `live` is the copy (a
snapshot plus the changes since), `candidates` the index that narrows a million faces to a few
hundred worth an exact look, `matching` the exact distances and the one "same person" rule."""
