"""Box overlap for the detector comparisons."""


def iou(a, b, over_smaller: bool = False):
    """Intersection over union of two x1, y1, x2, y2 boxes (over the smaller box's area with
    `over_smaller`, as MTCNN's last NMS measures it)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    return inter / (min(area_a, area_b) if over_smaller else area_a + area_b - inter)
