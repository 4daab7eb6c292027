"""Synthetic embeddings: random unit vectors (strangers to each other), and probes at a chosen
distance from an enrolled vector (0.85 is a typical same-person distance for FaceNet)."""
import numpy as np

DIM = 128


def unit(rows: int, rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    x = rng.standard_normal((rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def near(vector: np.ndarray, rng: np.random.Generator, distance: float = 0.85) -> np.ndarray:
    """A unit vector at exactly `distance` from unit `vector`, in a random direction."""
    noise = rng.standard_normal(len(vector)).astype(np.float32)
    noise -= noise @ vector * vector
    noise /= np.linalg.norm(noise)
    angle = 2 * np.arcsin(distance / 2)
    return (np.cos(angle) * vector + np.sin(angle) * noise).astype(np.float32)
