"""Multi-face 640x480 frames composed from the 5-celebrity photos, with known face boxes.

Ground truth: each source photo is run alone at full size through both detectors (MTCNN and
YuNet); a photo is used only when each finds exactly one face and the two boxes agree
(IoU >= 0.6), and its face box is the mean of the two. Photos are then scaled so that this
box is `face` px wide and packed on a gray frame (shelf packing, no overlap), the box scaled
and shifted with them. A detection counts as a find when it overlaps a placed box with
IoU >= 0.5 (each placed face matched at most once, best overlap first).
"""
import cv2
import numpy as np

FRAME_W, FRAME_H, GAP = 640, 480, 4
AGREE_IOU, MATCH_IOU = 0.6, 0.5


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of [N,4] and [M,4] x1,y1,x2,y2 boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def agreed_faces(photos: list, detectors: dict) -> list:
    """[(photo, box)] for the photos where every detector finds one face and they agree."""
    kept = []
    for rgb in photos:
        boxes = [detect(rgb)[0] for detect in detectors.values()]
        if any(len(b) != 1 for b in boxes):
            continue
        if min(iou_matrix(boxes[0], b)[0, 0] for b in boxes[1:]) >= AGREE_IOU:
            kept.append((rgb, np.mean([b[0] for b in boxes], axis=0)))
    return kept


def compose(faces: list, face_px: float) -> list:
    """[(frame, boxes [N,4])]: every (photo, box) once, scaled to a face `face_px` wide."""
    frames, frame, boxes = [], None, []
    x = y = shelf = 0
    for rgb, box in faces:
        scale = face_px / (box[2] - box[0])
        w, h = max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))
        if w > FRAME_W or h > FRAME_H:  # crop around the face when the scaled photo is too big
            cx, cy = (box[0] + box[2]) / 2 * scale, (box[1] + box[3]) / 2 * scale
            left = int(np.clip(cx - FRAME_W / 2, 0, max(w - FRAME_W, 0)))
            top = int(np.clip(cy - FRAME_H / 2, 0, max(h - FRAME_H, 0)))
        else:
            left = top = 0
        small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        small = small[top:top + FRAME_H, left:left + FRAME_W]
        h, w = small.shape[:2]
        if frame is not None and x + w > FRAME_W:
            x, y, shelf = 0, y + shelf + GAP, 0
        if frame is None or y + h > FRAME_H:
            if frame is not None:
                frames.append((frame, np.asarray(boxes, np.float32)))
            frame, boxes, x, y, shelf = np.full((FRAME_H, FRAME_W, 3), 90, np.uint8), [], 0, 0, 0
        frame[y:y + h, x:x + w] = small
        boxes.append(box * scale - [left, top, left, top] + [x, y, x, y])
        x, shelf = x + w + GAP, max(shelf, h)
    if frame is not None:
        frames.append((frame, np.asarray(boxes, np.float32)))
    return frames


def matches(found: np.ndarray, placed: np.ndarray) -> int:
    """Placed faces found (greedy one-to-one matching at IoU >= MATCH_IOU)."""
    if len(found) == 0 or len(placed) == 0:
        return 0
    overlaps = iou_matrix(found, placed)
    matched = 0
    while overlaps.size and overlaps.max() >= MATCH_IOU:
        i, j = np.unravel_index(np.argmax(overlaps), overlaps.shape)
        overlaps[i, :], overlaps[:, j] = -1, -1
        matched += 1
    return matched
