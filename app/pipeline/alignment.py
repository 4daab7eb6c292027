"""Faces aligned for SFace (and any ArcFace-style network) and for dlib's ResNet: the 5
landmarks of each face mapped onto a template (ArcFace's 112x112, or DLIB_TEMPLATE_150) by a
similarity transform, then warped.

It computes what OpenCV's `cv2.FaceRecognizerSF.alignCrop` does (an Umeyama least-squares
similarity on the 5 points, `cv2.warpAffine` bilinear with black borders), for many faces
and from our landmark order (left eye = smaller x in the image, as MTCNN and YuNet report).
"""
import cv2
import numpy as np

# ArcFace's 112x112 template: left eye, right eye, nose, mouth left, mouth right (x, y).
TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]], np.float64)
# Where our 5 landmarks (same order) fall in the 150x150 chip dlib's ResNet was trained on (dlib's
# get_face_chip_details, padding 0.25, on its own 5-point shapes: eye corners and nose), averaged
# over the train photos: `python -m scripts.fit_dlib_sface` fits it (with YuNet + O-Net's landmarks).
DLIB_TEMPLATE_150 = np.array([[47.85, 44.13], [100.19, 43.97], [74.74, 76.12],
                              [49.51, 102.08], [97.43, 101.58]], np.float64)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 rotation + uniform scale + shift that maps the points `src` onto `dst` with the
    least squared error (Umeyama 1991, no reflection).

    Written out rather than cv2.estimateAffinePartial2D: that one is a robust (RANSAC/LMEDS)
    estimator that may leave points out, while alignCrop weighs all five equally."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.array([1.0, -1.0 if np.linalg.det(cov) < 0 else 1.0])
    rotation = u @ np.diag(d) @ vt
    variance = (src_c ** 2).sum() / len(src)
    scale = (s * d).sum() / variance if variance > 0 else 1.0
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def aligned_faces(rgb: np.ndarray, landmarks: np.ndarray, size: int = 112,
                  template: np.ndarray | None = None) -> np.ndarray:
    """uint8 [N,size,size,3]: each face of `rgb` warped so that its landmarks [N,5,2] land on
    `template` (ArcFace's 112x112 scaled to `size` unless given)."""
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    template = TEMPLATE_112 * (size / 112.0) if template is None else template
    out = np.zeros((len(landmarks), size, size, 3), np.uint8)
    for i, points in enumerate(landmarks):
        matrix = similarity_transform(points, template)
        out[i] = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out
