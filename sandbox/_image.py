"""Building the grading images: ``medgrade image base`` and ``medgrade image build``.

Grading servers are often air-gapped and ``pip`` inside ``docker build`` often fails behind
TLS-intercepting proxies, so no package is ever downloaded inside a build: wheels are
fetched on the host (or taken from a local wheelhouse) into the build context, and the
base image can be made locally from Debian packages.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandbox._backend import SandboxUnavailableError
from sandbox._docker import DEFAULT_IMAGE, _client

IMAGES_DIR = Path(__file__).resolve().parent / "images"
DEFAULT_BASE = "python:3.11-slim"
DEFAULT_CUDA_BASE = "pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime"
LOCAL_BASE = "medgrade/base:bookworm"
#: What the harness itself needs, in every image: numpy, and a Jupyter kernel for notebooks.
HARNESS_PACKAGES = ("numpy", "nbclient", "ipykernel")
#: What submissions get when the marker names no packages.
DEFAULT_PACKAGES = ("torch",)


def make_base_image(tag: str = LOCAL_BASE, *, suite: str = "bookworm") -> str:
    """Make a minimal Debian base image with Python 3 from Debian packages (mmdebstrap)."""
    if shutil.which("mmdebstrap") is None:
        raise SandboxUnavailableError("mmdebstrap is not installed (apt-get install mmdebstrap)")
    if shutil.which("docker") is None:
        raise SandboxUnavailableError("the docker command-line client is not installed")
    packages = "python3-minimal,python3-venv,python3-pip,ca-certificates"
    debootstrap = subprocess.Popen(
        ["mmdebstrap", "--variant=minbase", f"--include={packages}", suite, "-"],
        stdout=subprocess.PIPE,
    )
    imported = subprocess.run(
        [
            "docker",
            "import",
            "-c",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "-",
            tag,
        ],
        stdin=debootstrap.stdout,
        capture_output=True,
        text=True,
    )
    assert debootstrap.stdout is not None
    debootstrap.stdout.close()
    if debootstrap.wait() != 0 or imported.returncode != 0:
        raise SandboxUnavailableError(f"making the base image failed: {imported.stderr.strip()}")
    return tag


def download_wheels(
    requirements: Sequence[str], destination: Path, *, python_version: str = "3.11"
) -> None:
    """Fetch manylinux x86-64 wheels for ``requirements`` (and their dependencies) on the host."""
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
        "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
        "--python-version", python_version, "--implementation", "cp",
        "-d", str(destination), *requirements,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SandboxUnavailableError(f"downloading wheels failed:\n{done.stderr.strip()[-2000:]}")


def build_image(
    *,
    tag: str = DEFAULT_IMAGE,
    base_image: str = DEFAULT_BASE,
    requirements: Sequence[str] = DEFAULT_PACKAGES,
    wheelhouse: Path | None = None,
    cuda: bool = False,
) -> str:
    """Build the grading image and return its id.

    ``requirements`` come on top of :data:`HARNESS_PACKAGES`.  ``wheelhouse`` (offline mode)
    must hold wheels for all of them and everything they need; without it the wheels are
    downloaded on the host first.
    """
    requirements = list(dict.fromkeys([*HARNESS_PACKAGES, *requirements]))
    client = _client()
    with tempfile.TemporaryDirectory(prefix="medgrade-image-") as scratch:
        context = Path(scratch)
        wheels = context / "wheels"
        wheels.mkdir()
        if wheelhouse is not None:
            for wheel in Path(wheelhouse).glob("*.whl"):
                shutil.copy2(wheel, wheels / wheel.name)
        else:
            download_wheels(requirements, wheels)
        (wheels / "requirements.txt").write_text("\n".join(requirements) + "\n")
        shutil.copy2(
            IMAGES_DIR / ("Dockerfile.cuda" if cuda else "Dockerfile"), context / "Dockerfile"
        )
        return _build(client, context, tag=tag, base_image=base_image)


def build_environment_image(
    *,
    lock: Path,
    wheelhouse: Path,
    uv: Path,
    tag: str,
    base_image: str = DEFAULT_BASE,
    labels: dict[str, str] | None = None,
) -> str:
    """Build the image of a task's environment (:mod:`grader.environment`) and return its
    id: exactly ``lock``, installed from ``wheelhouse`` by ``uv`` (the same tool, options
    and wheels that build the environment's virtual environment for bubblewrap)."""
    client = _client()
    with tempfile.TemporaryDirectory(prefix="medgrade-image-") as scratch:
        context = Path(scratch)
        wheels = context / "wheels"
        wheels.mkdir()
        for wheel in Path(wheelhouse).glob("*.whl"):
            _link_or_copy(wheel, wheels / wheel.name)
        shutil.copy2(lock, wheels / "requirements.txt")
        shutil.copy2(uv, context / "uv")
        shutil.copy2(IMAGES_DIR / "Dockerfile.env", context / "Dockerfile")
        return _build(client, context, tag=tag, base_image=base_image, labels=labels)


def _link_or_copy(source: Path, destination: Path) -> None:
    # A wheelhouse holds gigabytes (torch): a hard link costs nothing where it can be made.
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _build(
    client: Any,
    context: Path,
    *,
    tag: str,
    base_image: str,
    labels: dict[str, str] | None = None,
) -> str:
    try:
        image, _ = client.images.build(
            path=str(context),
            tag=tag,
            buildargs={"BASE_IMAGE": base_image},
            labels=labels or {},
            rm=True,
            forcerm=True,
            network_mode="none",
        )
    except Exception as error:
        raise SandboxUnavailableError(f"building {tag} failed: {error}") from None
    _remove_build_stages(client)
    return str(image.id)


#: The label of the Dockerfiles' build stage (wheels and a second copy of the venv).
BUILD_STAGE_LABEL = "org.medgrade.stage=build"


def _remove_build_stages(client: Any) -> None:
    """Remove the untagged build-stage images the legacy builder leaves behind: each holds
    the wheels and the whole environment again (1.5-2.7 GB for torch), and nothing uses
    them once the final image has its copy.  Only images carrying medgrade's build-stage
    label are touched; a failure to remove them never fails the build."""
    with contextlib.suppress(Exception):  # a daemon that refuses keeps them; the build stands
        client.images.prune(filters={"dangling": True, "label": BUILD_STAGE_LABEL})
