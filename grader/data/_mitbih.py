"""MIT-BIH Arrhythmia Database (Moody & Mark 2001, PhysioNet): beats around the R peaks.

The official layout is PhysioNet's ``mitdb`` folder of WFDB records (``NNN.hea``,
``NNN.dat``, ``NNN.atr``).  Beats are extracted once with the ``wfdb`` package and cached
as ``mitbih_beats_aami.npz``: for every annotated beat of the 44 non-paced records, the
MLII lead in a 256-sample window centred on the reference R-peak annotation (360 Hz),
averaged in pairs to 128 samples at 180 Hz.  Age and sex come from the headers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from grader.data._dataset import Dataset
from grader.data._fetch import Download, register_downloads
from grader.data._files import find_data_file
from grader.data._loaders import register_loader
from grader.errors import DataError

PHYSIONET_URL = "https://physionet.org/content/mitdb/1.0.0/"
CACHE_FILE = "mitbih_beats_aami.npz"
#: Paced records, left out as AAMI EC57 recommends.
PACED = (102, 104, 107, 217)
#: The inter-patient split of de Chazal, O'Dwyer & Reilly (IEEE TBME 2004).
DS1 = (101, 106, 108, 109, 112, 114, 115, 116, 118, 119, 122, 124, 201, 203, 205, 207, 208, 209, 215, 220, 223, 230)  # fmt: skip
DS2 = (100, 103, 105, 111, 113, 117, 121, 123, 200, 202, 210, 212, 213, 214, 219, 221, 222, 228, 231, 232, 233, 234)  # fmt: skip
#: Beat annotation symbols per AAMI class.
AAMI_CLASSES = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "Q/f"}
HALF_WINDOW = 128
AGE_BANDS = ((0, 50, "under 50"), (50, 70, "50-69"), (70, 200, "70 and over"))


def read_demographics(header: Path) -> tuple[int | None, str | None]:
    """Age and sex from a record header's first comment, e.g. ``# 69 M 1085 1629 x1``."""
    for line in header.read_text(errors="replace").splitlines():
        if line.startswith("#"):
            tokens = line[1:].split()
            age = int(tokens[0]) if tokens and tokens[0].lstrip("-").isdigit() else None
            sex = tokens[1] if len(tokens) > 1 and tokens[1] in ("M", "F") else None
            return (age if age is not None and age >= 0 else None), sex
    return None, None


def extract_beats(record: Path) -> dict[str, np.ndarray]:
    """The beats of one WFDB record (``record`` without suffix), as cached."""
    try:
        import wfdb
    except ImportError:
        raise DataError(
            "extracting beats from the WFDB records needs the wfdb package: pip install wfdb"
        ) from None
    signals = wfdb.rdrecord(str(record), physical=False)
    annotations = wfdb.rdann(str(record), "atr")
    lead = signals.sig_name.index("MLII")
    signal = signals.d_signal[:, lead].astype(np.int64) - signals.baseline[lead]
    symbol_class = {s: c for c, symbols in AAMI_CLASSES.items() for s in symbols}
    windows, symbols, peaks = [], [], []
    for sample, symbol in zip(annotations.sample, annotations.symbol, strict=True):
        if symbol not in symbol_class:
            continue  # rhythm changes, noise and other non-beat annotations
        if sample - HALF_WINDOW < 0 or sample + HALF_WINDOW > len(signal):
            continue
        window = signal[sample - HALF_WINDOW : sample + HALF_WINDOW]
        windows.append(np.round(window.reshape(-1, 2).mean(axis=1)).astype(np.int16))
        symbols.append(symbol)
        peaks.append(sample)
    classes = np.array([list(AAMI_CLASSES).index(symbol_class[s]) for s in symbols], dtype=np.uint8)
    return {
        "X": np.array(windows, dtype=np.int16).reshape(-1, HALF_WINDOW),
        "y": classes,
        "symbol": np.array(symbols, dtype="<U1"),
        "r_peak_sample": np.array(peaks, dtype=np.int32),
    }


def _beats(folder: Path, headers: dict[int, Path]) -> dict[str, np.ndarray]:
    cached = sorted(folder.rglob(CACHE_FILE))
    user_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "medgrade"
    if not cached and (user_cache / CACHE_FILE).is_file():
        cached = [user_cache / CACHE_FILE]
    if cached:
        with np.load(cached[0], allow_pickle=False) as archive:
            return {key: archive[key] for key in ("X", "y", "record", "r_peak_sample")}
    parts = []
    for number in (*DS1, *DS2):
        record = headers[number].with_suffix("")
        if not record.with_suffix(".dat").is_file() or not record.with_suffix(".atr").is_file():
            raise DataError(
                f"MIT-BIH record {number} has no .dat/.atr beside {headers[number]}; download "
                f"the whole database from {PHYSIONET_URL}"
            )
        beats = extract_beats(record)
        beats["record"] = np.full(len(beats["y"]), number, dtype=np.int16)
        parts.append(beats)
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    target = folder / CACHE_FILE if os.access(folder, os.W_OK) else user_cache / CACHE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(target, **merged)
    return merged


@register_downloads("mitbih")
def mitbih_downloads(
    *, positive_classes: list[str], validation_records: list[int]
) -> list[Download]:
    """Every WFDB file of the 44 records medgrade reads (about 70 MB)."""
    del positive_classes, validation_records
    files = "https://physionet.org/files/mitdb/1.0.0"
    return [
        Download(f"{files}/{number}.{suffix}", f"mitbih_arrhythmia/{number}.{suffix}")
        for number in sorted(DS1 + DS2)
        for suffix in ("hea", "dat", "atr")
    ]


@register_loader("mitbih")
def load_mitbih(
    *, data_dir: Path | None, positive_classes: list[str], validation_records: list[int]
) -> Dataset:
    """MIT-BIH beats as a binary task: ``positive_classes`` (AAMI letters, e.g. ``["V"]``)
    against every other beat.  DS2 is the test split; ``validation_records`` of DS1 are
    the validation split, the rest of DS1 the train split, so no patient spans two splits.

    Attributes: ``record`` (the patient), ``sex`` and ``age_band``.
    """
    unknown = sorted(set(positive_classes) - set(AAMI_CLASSES))
    if unknown or sorted(set(validation_records) - set(DS1)):
        raise DataError(
            f"positive_classes must be AAMI classes {list(AAMI_CLASSES)} and validation_records "
            f"DS1 records {list(DS1)}"
        )
    any_header = find_data_file(
        data_dir,
        dataset="MIT-BIH Arrhythmia Database",
        folder="mitbih_arrhythmia",
        patterns=("**/100.hea",),
        get_it=f"Download the WFDB records (NNN.hea, NNN.dat, NNN.atr) from {PHYSIONET_URL}.",
    )
    assert data_dir is not None  # find_data_file found the header under it
    del any_header
    folder = data_dir / "mitbih_arrhythmia"
    folder = folder if folder.is_dir() else data_dir
    headers = {int(p.stem): p for p in folder.rglob("*.hea") if p.stem.isdigit()}
    missing = sorted(set(DS1 + DS2) - set(headers))
    if missing:
        raise DataError(f"MIT-BIH headers of records {missing} are missing in {folder}")
    beats = _beats(folder, headers)
    record = beats["record"].astype(np.int64)
    demographics = {number: read_demographics(headers[number]) for number in DS1 + DS2}
    ages = np.array([demographics[r][0] if demographics[r][0] is not None else -1 for r in record])
    sexes = np.array(
        [{"F": "female", "M": "male"}.get(demographics[r][1] or "", "unknown") for r in record]
    )
    split = np.where(
        np.isin(record, DS2),
        "test",
        np.where(np.isin(record, validation_records), "validation", "train"),
    )
    positive = [list(AAMI_CLASSES).index(c) for c in positive_classes]
    return Dataset(
        name="mitbih",
        case_ids=np.array(
            [f"mitbih-{r}-{s}" for r, s in zip(record, beats["r_peak_sample"], strict=True)]
        ),
        features=(beats["X"].astype(np.float32) / 200.0),
        feature_names=(),
        labels=np.isin(beats["y"], positive).astype(np.int64),
        attributes={
            "record": record.astype(str),
            "sex": sexes,
            "age_band": np.select(
                [(ages >= low) & (ages < high) for low, high, _ in AGE_BANDS],
                [label for _, _, label in AGE_BANDS],
                default="unknown",
            ),
        },
        official_split=split,
        source_paths=(),
    )
