"""The face pipeline: load a photo, detect faces (YuNet), align them (5-point similarity), paste back."""

from p3mask.face.align import (
    FaceAligner,
    align_faces,
    estimate_similarity,
    invert_affine,
    paste_from_crop,
    warp_to_crop,
)
from p3mask.face.detect import Detections, FaceDetector, ensure_yunet
from p3mask.face.image_io import (
    IMAGE_SUFFIXES,
    ImageInfo,
    ImageLoadError,
    iter_image_files,
    load_image,
    load_image_with_info,
    save_image,
)

__all__ = [
    "IMAGE_SUFFIXES", "Detections", "FaceAligner", "FaceDetector", "ImageInfo", "ImageLoadError",
    "align_faces", "ensure_yunet", "estimate_similarity", "invert_affine", "iter_image_files",
    "load_image", "load_image_with_info", "paste_from_crop", "save_image", "warp_to_crop",
]
