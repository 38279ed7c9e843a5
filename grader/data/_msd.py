"""Medical Segmentation Decathlon (Antonelli et al., Nature Communications 2022): 3-D MRI.

The official layout is the unpacked ``TaskNN_Name`` folder: ``imagesTr/<case>.nii.gz`` and
``labelsTr/<case>.nii.gz`` with the same file names.  Volumes are read with nibabel in
their stored voxel order; the voxel size comes from the header (``get_zooms``).  The
official archives hold macOS ``._`` resource files beside the volumes; they are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.data._dataset import Dataset
from grader.data._fetch import Download, register_downloads
from grader.data._loaders import register_loader
from grader.errors import DataError

#: Where MONAI's DecathlonDataset and the MSD website point for the archives.
MSD_URL = "https://msd-for-monai.s3-us-west-2.amazonaws.com/{task}.tar"
NIFTI_SUFFIX = ".nii.gz"


@register_downloads("msd")
def msd_downloads(*, task: str, labels: list[int]) -> list[Download]:
    del labels
    return [Download(MSD_URL.format(task=task), f"{task}.tar", unpacks_to=task)]


def find_msd_folder(data_dir: Path | None, task: str) -> Path:
    """``data_dir/<task>`` (or its lower-case name, or ``data_dir`` itself) holding
    ``imagesTr`` and ``labelsTr``; a missing dataset gets one message saying how to get it."""
    get_it = (
        f"Download {task}.tar from {MSD_URL.format(task=task)} (or http://medicaldecathlon.com, "
        f"or run 'medgrade data fetch') and unpack it"
    )
    if data_dir is None:
        raise DataError(
            f"MSD {task} is not on this machine. {get_it} into a folder DIR, then pass "
            "--data-dir DIR or set MEDGRADE_DATA=DIR."
        )
    candidates = [data_dir / task, data_dir / f"msd_{task.lower()}", data_dir]
    for folder in candidates:
        if (folder / "imagesTr").is_dir() and (folder / "labelsTr").is_dir():
            return folder
    raise DataError(
        f"MSD {task} was not found: no imagesTr/ and labelsTr/ in "
        f"{', '.join(str(c) for c in candidates)}. {get_it} into {data_dir}."
    )


def _case_files(folder: Path) -> list[str]:
    return sorted(
        p.name[: -len(NIFTI_SUFFIX)]
        for p in folder.glob(f"*{NIFTI_SUFFIX}")
        if not p.name.startswith(".")
    )


def read_volume(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """The voxel array of a NIfTI file and its voxel size in mm."""
    try:
        import nibabel
    except ImportError:
        raise DataError(
            "reading NIfTI volumes needs the nibabel package: pip install 'medgrade[mri]'"
        ) from None
    try:
        image = nibabel.load(path)
        data = np.asarray(image.dataobj)
        zooms = tuple(float(z) for z in image.header.get_zooms()[: data.ndim])
    except Exception as error:  # nibabel raises many kinds on a damaged file
        raise DataError(f"{path} is not a readable NIfTI volume ({error})") from None
    return data, zooms


@register_loader("msd")
def load_msd(*, data_dir: Path | None, task: str, labels: list[int]) -> Dataset:
    """The labelled cases of MSD ``task`` (e.g. ``Task04_Hippocampus``) as volumes.

    Images become float32 as stored (no normalisation: that is the student's job), label
    maps uint8.  Every case must have a label map of the image's shape whose values are 0
    and ``labels`` only.
    """
    folder = find_msd_folder(data_dir, task)
    images_dir, labels_dir = folder / "imagesTr", folder / "labelsTr"
    cases = _case_files(images_dir)
    unlabelled = sorted(set(cases) - set(_case_files(labels_dir)))
    if unlabelled:
        raise DataError(f"{labels_dir} lacks the label maps of {unlabelled[:5]}")
    if not cases:
        raise DataError(f"{images_dir} holds no {NIFTI_SUFFIX} volumes")
    allowed = {0, *labels}
    images, label_maps, spacings = [], [], []
    for case in cases:
        image_path = images_dir / f"{case}{NIFTI_SUFFIX}"
        label_path = labels_dir / f"{case}{NIFTI_SUFFIX}"
        image, spacing = read_volume(image_path)
        label_map, _ = read_volume(label_path)
        if image.shape != label_map.shape or image.ndim != 3:
            raise DataError(
                f"{case}: image {image.shape} and label map {label_map.shape} must be 3-D "
                "volumes of the same shape"
            )
        values = set(np.unique(label_map).tolist())
        if not values <= allowed:
            raise DataError(f"{label_path}: label values {sorted(values - allowed)} unexpected")
        images.append(image.astype(np.float32))
        label_maps.append(label_map.astype(np.uint8))
        spacings.append(spacing)
    return Dataset(
        name=task,
        case_ids=np.array(cases),
        features=_object_array(images),
        feature_names=(),
        labels=_object_array(label_maps),
        spacings=np.array(spacings, dtype=np.float64),
        source_paths=(folder,),
    )


def _object_array(volumes: list[np.ndarray]) -> np.ndarray:
    # np.array(volumes) would stack same-shaped volumes into one 4-D array.
    array = np.empty(len(volumes), dtype=object)
    for position, volume in enumerate(volumes):
        array[position] = volume
    return array
