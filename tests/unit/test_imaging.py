"""Image validation and decoding, and the face crops."""
import numpy as np
import pytest
from images import png, png_header_only, truncated

from app.errors import ImageError, ImageTooLarge
from app.pipeline.imaging import crop_faces, decode_image, read_any_header_size
from config import FaceCrop
from samples.photos import encode_jpeg, one_face_frame

LIMIT = 50_000_000


@pytest.fixture(scope="module")
def jpeg():
    return encode_jpeg(one_face_frame())


def test_jpeg_decodes_to_rgb(jpeg):
    rgb = decode_image(jpeg, LIMIT)
    assert rgb.shape == (480, 640, 3) and rgb.dtype == np.uint8
    # the frame's gray background (90, 90, 90) survives as RGB
    assert np.allclose(rgb[2, 2], 90, atol=3)


def test_channel_order_is_rgb():
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 2] = 255  # BGR red for OpenCV's encoder
    assert decode_image(png(red), LIMIT)[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize("image", [np.full((40, 30), 200, np.uint8), np.full((40, 30, 4), 200, np.uint8),
                                   np.full((1, 1, 3), 7, np.uint8)], ids=["grayscale", "rgba", "1x1"])
def test_grayscale_rgba_and_tiny_images_become_rgb(image):
    rgb = decode_image(png(image), LIMIT)
    assert rgb.shape == image.shape[:2] + (3,)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"hello, I am text", "not an image"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "not an image"),
], ids=["empty", "text", "jpeg-magic-only"])
def test_non_images_are_refused(data, message):
    with pytest.raises(ImageError, match=message) as info:
        decode_image(data, LIMIT)
    assert info.value.status == 400


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.99])
def test_truncated_jpeg_is_refused_by_name(jpeg, keep):
    with pytest.raises(ImageError, match="truncated JPEG"):
        decode_image(truncated(jpeg, keep), LIMIT)


def test_truncated_png_is_refused():
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    with pytest.raises(ImageError, match="truncated PNG"):
        decode_image(truncated(png(image)), LIMIT)


def test_decompression_bomb_is_refused_from_its_header(monkeypatch):
    from PIL import Image
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)  # Pillow's own limit, as imported
    with pytest.raises(ImageTooLarge, match="MAX_IMAGE_PIXELS"):
        decode_image(png_header_only(20000, 20000), LIMIT)
    read_any_header_size()  # as the app factory does: our limit, naming the size
    with pytest.raises(ImageTooLarge, match="20000x20000") as info:
        decode_image(png_header_only(20000, 20000), LIMIT)
    assert info.value.status == 413


def test_parse_crop():
    assert FaceCrop.parse("box") == FaceCrop(0.0, 0.0)
    assert FaceCrop.parse("box+10%") == FaceCrop(0.1, 0.0)
    assert FaceCrop.parse("box+16px") == FaceCrop(0.0, 16.0)
    assert [str(FaceCrop.parse(s)) for s in ("box", "box+10%", "box+16px")] == ["box", "box+10%", "box+16px"]
    with pytest.raises(ValueError):
        FaceCrop.parse("square")


def test_crops_are_widened_clipped_and_resized():
    rgb = np.zeros((100, 200, 3), np.uint8)
    rgb[40:60, 90:110] = 255  # a white square "face"
    boxes = np.array([[90, 40, 110, 60], [-20, -20, 10, 10], [195, 95, 199, 99]], np.float32)
    crops = crop_faces(rgb, boxes, FaceCrop(), 32)
    assert crops.shape == (3, 32, 32, 3)
    assert crops[0].min() == 255  # exactly the square
    wide = crop_faces(rgb, boxes[:1], FaceCrop(0.5), 32)[0]
    assert wide[0, 0].max() == 0 and wide[16, 16].min() == 255  # black border around the square
