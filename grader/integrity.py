"""Integrity flags: what a class's submissions share that independent work would not.

Evidence for the marker to review, never a penalty: a flag changes no mark, and it is shown
only where markers look (the class dashboard), never in a student's report, since it names
other students.  Three kinds, each with what matched:

- **same files**: a model file (weights, not code: :func:`grader.reference.answer_files`)
  byte for byte the same in several submissions;
- **same tensors**: model files that differ as files but hold the same weight tensors
  byte for byte (a copied model saved again, or some of its layers reused): PyTorch's zip
  files, safetensors and ``.npz`` archives are read as archives, never unpickled, so reading
  a submission's weights runs none of its code; tensors most of the class holds (a
  pretrained backbone kept frozen) are no evidence;
- **same predictions**: the same predictions on every case of the graded split (runs that
  predict one value for every case are left out: two prevalence models agree by design);
- **correlated predictions**: predictions that depart from the class's consensus (the median
  prediction of each case) together, far more than any two independent models do: a copy
  with noise added or rounded.  No label is needed: independent models err apart;
  deterministic recipes (the same default estimator on the same data) agree by design, which
  is why a flag is evidence for a person to weigh, not a finding;
- **similar code**: the submissions' Python (``.py`` files and notebook code cells) compared
  with copydetect's winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003, the algorithm
  of MOSS), after its tokenizer has replaced every name and string, so that renaming
  variables hides nothing; the reference implementation's code is compared too.  Passages
  that most of the class shares (a starter's skeleton, the contract's signatures) are
  boilerplate and do not count, except that two files the same almost whole are flagged
  whatever they share (a group of copies large enough to pass for boilerplate).

Copies of the reference's weight files and predictions are flagged on the run itself
(:mod:`grader.reference`), which the report shows the student who made it.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import struct
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from copydetect import CodeFingerprint

    from grader.evaluation import Evaluation

#: How the reference implementation is named where it takes part in a flag.
REFERENCE = "the reference implementation"
#: copydetect's defaults: matches shorter than the noise threshold (in characters of the
#: tokenized code, about a line) are ignored; those as long as the guarantee are all found.
NOISE_THRESHOLD = 25
GUARANTEE_THRESHOLD = 30
#: Code flagged as similar: this share of one submission's code is found in the other...
SIMILARITY_THRESHOLD = 0.8
#: ...and the match is at least this long (characters of tokenized code, where every name
#: is one character: about ten lines), so that two short predict.py files that both load a
#: model and call it are not flagged.
MIN_MATCHED_CHARACTERS = 200
#: Two files the same almost whole, boilerplate included, are flagged too: this share of
#: each is in the other, over at least this many characters (about thirty lines).
WHOLE_SIMILARITY = 0.9
WHOLE_MIN_CHARACTERS = 600
#: A passage in more than this share of the class's submissions, and in more than
#: :data:`BOILERPLATE_MIN_STUDENTS`, is boilerplate.
BOILERPLATE_SHARE = 0.25
BOILERPLATE_MIN_STUDENTS = 3
#: Tensors smaller than this (a bias, a norm's scale) are too common to say anything...
MIN_TENSOR_BYTES = 1024
#: ...and larger ones than this are not read (a submission's files are capped anyway).
MAX_TENSOR_BYTES = 2**31
MAX_SAFETENSORS_HEADER = 100 * 2**20
#: A pair is flagged when this share of the smaller model's tensor bytes is the other's too.
SHARED_TENSOR_SHARE = 0.5
#: Correlated predictions: the departures from the consensus of two runs correlate this
#: much (a copy with noise of a tenth of the departures' size still does)...
CORRELATION_THRESHOLD = 0.98
#: ...in a class of at least this many graded runs (fewer make a poor consensus)...
MIN_CONSENSUS_STUDENTS = 5
#: ...between runs whose departures are not all but nothing.
MIN_DEPARTURE = 1e-4
#: (model file's sha256, tensor's sha256, bytes).
TensorDigest = tuple[str, str, int]
#: The longest matched passages shown per submission of a pair, each cut to this many lines.
PASSAGES_SHOWN = 3
PASSAGE_LINES = 12

FlagKind = Literal[
    "same_files", "same_tensors", "same_predictions", "correlated_predictions", "similar_code"
]
FLAG_TITLES: dict[FlagKind, str] = {
    "same_files": "Identical model files",
    "same_tensors": "Identical weight tensors",
    "same_predictions": "Identical predictions",
    "correlated_predictions": "Correlated predictions",
    "similar_code": "Similar code",
}


@dataclass(frozen=True)
class Passage:
    """A stretch of one submission's code that the other submission of a pair also has."""

    student_id: str
    text: str
    #: Lines of the passage left out of ``text``.
    lines_cut: int = 0


@dataclass(frozen=True)
class IntegrityFlag:
    kind: FlagKind
    #: The students the evidence joins, sorted; :data:`REFERENCE` may be one of them.
    students: tuple[str, ...]
    #: What matched, in a sentence.
    evidence: str
    #: For similar code: the longest passages the pair shares, in each one's own words.
    passages: tuple[Passage, ...] = ()
    #: For similar code, the larger share of one's code found in the other's; for
    #: correlated predictions, the correlation.
    similarity: float | None = None

    @property
    def title(self) -> str:
        return FLAG_TITLES[self.kind]


def class_flags(
    evaluations: Sequence[Evaluation], *, reference_code: str | None = None
) -> list[IntegrityFlag]:
    """Every integrity flag of a class: one run per student (their newest), failed runs
    included where the evidence does not need a prediction."""
    return [
        *_same_files(evaluations),
        *_same_tensors(evaluations),
        *_same_predictions(evaluations),
        *_correlated_predictions(evaluations),
        *_similar_code(evaluations, reference_code),
    ]


def _same_files(evaluations: Iterable[Evaluation]) -> list[IntegrityFlag]:
    holders: dict[str, dict[str, str]] = defaultdict(dict)  # sha256 -> student -> file
    for evaluation in evaluations:
        for name, sha256 in evaluation.file_sha256:
            holders[sha256].setdefault(evaluation.student_id, name)
    # Several files shared by the same students (weights and a scaler) are one flag.
    groups: dict[tuple[str, ...], list[tuple[str, dict[str, str]]]] = defaultdict(list)
    for sha256, by_student in sorted(holders.items()):
        if len(by_student) > 1:
            groups[tuple(sorted(by_student))].append((sha256, by_student))
    flags = []
    for students, shared in sorted(groups.items()):
        files = []
        for sha256, by_student in shared:
            names = sorted(set(by_student.values()))
            where = names[0] if len(names) == 1 else " / ".join(names)
            files.append(f"{where} (sha256 {sha256[:12]})")
        flags.append(
            IntegrityFlag(
                "same_files",
                students,
                f"{len(students)} submissions hold the same {', '.join(files)} byte for byte",
            )
        )
    return flags


def _same_tensors(evaluations: Sequence[Evaluation]) -> list[IntegrityFlag]:
    """Pairs where all of one's weight tensors are the other's, or most of the tensors
    that only a few students hold."""
    in_file = {e.student_id: {(sha, f) for f, sha, _ in e.tensor_sha256} for e in evaluations}
    held = {student: {sha for sha, _ in pairs} for student, pairs in in_file.items()}
    sizes = {sha: size for e in evaluations for _, sha, size in e.tensor_sha256}
    files = {e.student_id: {sha for _, sha in e.file_sha256} for e in evaluations}
    holders: dict[str, set[str]] = defaultdict(set)
    for student, tensors in held.items():
        for sha in tensors:
            holders[sha].add(student)
    # A tensor much of the class holds is a common starting point (a pretrained backbone
    # kept frozen), as boilerplate is for code: it counts only where a whole model is
    # another's.
    limit = max(BOILERPLATE_MIN_STUDENTS, BOILERPLATE_SHARE * len(held))
    common = {sha for sha, students in holders.items() if len(students) > limit}
    # The pairs to compare: those sharing a tensor few hold, and a model made only of
    # common tensors with each model that holds all of them.
    pairs = {
        tuple(sorted((a, b)))
        for sha, students in holders.items()
        if sha not in common
        for a in students
        for b in students
        if a != b
    }
    for student, tensors in held.items():
        if tensors and tensors <= common:
            holding_all = set.intersection(*(holders[sha] for sha in tensors)) - {student}
            pairs |= {tuple(sorted((student, other))) for other in holding_all}
    flags = []
    for first, second in sorted(pairs):
        # Tensors of a file both hold byte for byte are that file's flag, not this one.
        both = files[first] & files[second]
        apart = {
            student: {sha for sha, file in in_file[student] if file not in both}
            for student in (first, second)
        }
        flag = _tensor_flag(first, second, apart, sizes, common)
        if flag is not None:
            flags.append(flag)
    return flags


def _tensor_flag(
    first: str,
    second: str,
    tensors: dict[str, set[str]],
    sizes: dict[str, int],
    common: set[str],
) -> IntegrityFlag | None:
    a, b = tensors[first], tensors[second]
    shared = a & b
    if not shared:
        return None
    whole = a <= b or b <= a
    own_a, own_b = a - common, b - common
    own_shared = sum(sizes[sha] for sha in shared - common)
    smaller_own = min(sum(sizes[sha] for sha in own_a), sum(sizes[sha] for sha in own_b))
    if not whole and not (smaller_own and own_shared >= SHARED_TENSOR_SHARE * smaller_own):
        return None
    matched = sum(sizes[sha] for sha in shared)
    total_a, total_b = sum(sizes[sha] for sha in a), sum(sizes[sha] for sha in b)
    return IntegrityFlag(
        "same_tensors",
        (first, second),
        f"{len(shared)} weight tensor(s), {_size(matched)} of {first}'s {_size(total_a)} and "
        f"{second}'s {_size(total_b)}, are the same byte for byte in model files that differ",
    )


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB" if n_bytes >= 2**20 else f"{n_bytes / 1024:.1f} KiB"


def tensor_digests(folder: Path, model_files: Iterable[tuple[str, str]]) -> list[TensorDigest]:
    """(file sha256, tensor sha256, bytes) of every weight tensor of ``model_files`` (their
    paths in ``folder`` and sha256s) that is large enough and not one value repeated
    (zero biases and unit scales are everyone's); files of other formats give none."""
    digests: list[TensorDigest] = []
    for name, file_sha256 in model_files:
        path = folder / name
        try:
            for data in _tensors(path):
                if len(data) >= MIN_TENSOR_BYTES and not _one_value(data):
                    digests.append((file_sha256, hashlib.sha256(data).hexdigest(), len(data)))
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError):
            continue  # an unreadable archive is only not compared
    return digests


def _tensors(path: Path) -> Iterator[bytes]:
    """The raw bytes of each tensor of a PyTorch zip file (its storages), an ``.npz``
    archive (its arrays) or a safetensors file; nothing for other files."""
    if path.suffix.lower() == ".safetensors":
        yield from _safetensors(path)
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                parts = PurePosixPath(member.filename).parts
                is_storage = len(parts) >= 2 and parts[-2] == "data" and parts[-1].isdigit()
                if (is_storage or member.filename.endswith(".npy")) and not member.is_dir():
                    if member.file_size > MAX_TENSOR_BYTES:
                        continue
                    with archive.open(member) as handle:
                        if member.filename.endswith(".npy") and not _past_npy_header(handle):
                            continue
                        yield handle.read(MAX_TENSOR_BYTES)


def _past_npy_header(handle: IO[bytes]) -> bool:
    """Read an ``.npy`` member's header (numpy parses it as a literal, never as code), so
    that its array's bytes come next; False for an array of objects (a pickle)."""
    import numpy as np

    npy = np.lib.format
    version = npy.read_magic(handle)
    read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    _, _, dtype = read_header(handle)
    return not dtype.hasobject


def _safetensors(path: Path) -> Iterator[bytes]:
    """safetensors' layout: an 8-byte little-endian header length, a JSON header of each
    tensor's byte range, then the bytes (read here without the library: it is all there is
    to it, and the file is never given to code that could do more)."""
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > MAX_SAFETENSORS_HEADER:
            return
        header = json.loads(handle.read(length))
        start = 8 + length
        for name, entry in header.items():
            if name == "__metadata__" or not isinstance(entry, dict):
                continue
            begin, end = entry["data_offsets"]
            if not 0 <= begin <= end or end - begin > MAX_TENSOR_BYTES:
                continue
            handle.seek(start + begin)
            yield handle.read(end - begin)


def _one_value(data: bytes) -> bool:
    return data.count(data[:4]) * 4 == len(data)


def _same_predictions(evaluations: Iterable[Evaluation]) -> list[IntegrityFlag]:
    by_digest: dict[str, list[str]] = defaultdict(list)
    for evaluation in evaluations:
        digest = evaluation.predictions_sha256
        if evaluation.status == "graded" and digest and evaluation.predictions_constant is False:
            by_digest[digest].append(evaluation.student_id)
    return [
        IntegrityFlag(
            "same_predictions",
            tuple(sorted(students)),
            f"{len(students)} submissions predict exactly the same values on every case of "
            f"the graded split (sha256 {digest[:12]})",
        )
        for digest, students in sorted(by_digest.items(), key=lambda item: sorted(item[1]))
        if len(students) > 1
    ]


def _correlated_predictions(evaluations: Sequence[Evaluation]) -> list[IntegrityFlag]:
    """Pairs whose departures from the class's consensus correlate at or above
    :data:`CORRELATION_THRESHOLD` (identical predictions are their own flag)."""
    import numpy as np

    runs = [
        e
        for e in evaluations
        if e.status == "graded" and e.prediction_values and e.predictions_constant is False
    ]
    sizes = {len(e.prediction_values) for e in runs}
    if len(runs) < MIN_CONSENSUS_STUDENTS or len(sizes) != 1:
        return []
    predictions = np.array([e.prediction_values for e in runs])
    departures = predictions - np.median(predictions, axis=0)
    spread = departures.std(axis=1)
    kept = spread > MIN_DEPARTURE  # a run at the consensus has no departures to share
    if kept.sum() < 2:
        return []
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.corrcoef(departures[kept])
    students = [e.student_id for e, keep in zip(runs, kept, strict=True) if keep]
    digests = [e.predictions_sha256 for e, keep in zip(runs, kept, strict=True) if keep]
    upper = correlation[np.triu_indices(len(students), 1)]
    typical = float(np.nanmedian(upper)) if upper.size else float("nan")
    flags = []
    for first, second in zip(
        *np.nonzero(np.triu(correlation >= CORRELATION_THRESHOLD, 1)), strict=True
    ):
        if digests[first] == digests[second]:
            continue
        r = float(correlation[first, second])
        flags.append(
            IntegrityFlag(
                "correlated_predictions",
                tuple(sorted((students[first], students[second]))),
                f"their predictions depart from the class's consensus together: correlation "
                f"{r:.3f}, where the class's median pair is {typical:.3f}",
                similarity=r,
            )
        )
    return sorted(flags, key=lambda flag: (-(flag.similarity or 0.0), flag.students))


#: What two texts of code share, as copydetect found it: each one's share found in the
#: other, the matched slices of each, and a note on how they were compared.
CodeMatch = tuple[tuple[float, float], tuple[object, object], str]


def _similar_code(
    evaluations: Sequence[Evaluation], reference_code: str | None
) -> list[IntegrityFlag]:
    codes = {e.student_id: e.source_code for e in evaluations if e.source_code}
    if reference_code:
        codes[REFERENCE] = reference_code
    if len(codes) < 2:
        return []
    # Copies are what this looks for, so a class holds many equal texts: each distinct text
    # is fingerprinted once and each distinct pair of texts compared once.
    whole = {code: _fingerprint(code) for code in set(codes.values())}
    boilerplate = _boilerplate(codes, whole)
    own = {code: _without(fingerprint, boilerplate) for code, fingerprint in whole.items()}
    matches: dict[tuple[str, str], CodeMatch | None] = {}
    flags = []
    students = sorted(codes)
    for position, first in enumerate(students):
        for second in students[position + 1 :]:
            texts = (codes[first], codes[second])
            if texts not in matches:
                matches[texts] = _code_match(*texts, own, whole)
            match = matches[texts]
            if match is not None:
                flags.append(_code_flag(first, second, match, codes))
    return sorted(flags, key=lambda flag: (-(flag.similarity or 0.0), flag.students))


def _code_match(
    first: str, second: str, own: dict[str, CodeFingerprint], whole: dict[str, CodeFingerprint]
) -> CodeMatch | None:
    """Most of one text's own code (boilerplate aside) in the other's, or the two the same
    almost whole, boilerplate included (so that a group of copies too large for the class's
    boilerplate rule still shows); None when neither."""
    from copydetect import compare_files

    if _may_match(own[first], own[second], SIMILARITY_THRESHOLD):
        matched, similarities, slices = compare_files(own[first], own[second])
        if max(similarities) >= SIMILARITY_THRESHOLD and matched >= MIN_MATCHED_CHARACTERS:
            return similarities, slices, ""
    if _may_match(whole[first], whole[second], WHOLE_SIMILARITY):
        matched, similarities, slices = compare_files(whole[first], whole[second])
        if min(similarities) >= WHOLE_SIMILARITY and matched >= WHOLE_MIN_CHARACTERS:
            return similarities, slices, " (passages common in the class included)"
    return None


def _code_flag(first: str, second: str, match: CodeMatch, codes: dict[str, str]) -> IntegrityFlag:
    similarities, slices, note = match
    return IntegrityFlag(
        "similar_code",
        (first, second),
        f"{similarities[0]:.0%} of {first}'s code and {similarities[1]:.0%} of {second}'s are "
        f"found in the other's, names and strings aside{note}",
        (
            *_passages(first, codes[first], slices[0]),
            *_passages(second, codes[second], slices[1]),
        ),
        float(max(similarities)),
    )


def _may_match(a: CodeFingerprint, b: CodeFingerprint, threshold: float) -> bool:
    """Whether a pair could reach ``threshold``: the share of fingerprints two files share
    follows the share of their code that matches, so a pair far below it stops here, as
    most pairs do, before copydetect compares them in full."""
    shared = len(a.hashes & b.hashes)
    return bool(shared) and shared >= threshold / 2 * min(len(a.hashes), len(b.hashes))


def _fingerprint(code: str) -> CodeFingerprint:
    from copydetect import CodeFingerprint

    return CodeFingerprint(
        "submission.py",
        NOISE_THRESHOLD,
        GUARANTEE_THRESHOLD - NOISE_THRESHOLD + 1,
        language="python",
        fp=io.StringIO(code),
    )


def _boilerplate(codes: dict[str, str], fingerprints: dict[str, CodeFingerprint]) -> set[int]:
    """The fingerprints that more than :data:`BOILERPLATE_SHARE` of the students'
    submissions, and more than :data:`BOILERPLATE_MIN_STUDENTS`, share (``codes`` by
    student, ``fingerprints`` by text)."""
    counts: dict[int, int] = defaultdict(int)
    students = [student for student in codes if student != REFERENCE]
    for student in students:
        for value in fingerprints[codes[student]].hashes:
            counts[value] += 1
    limit = max(BOILERPLATE_MIN_STUDENTS, BOILERPLATE_SHARE * len(students))
    return {value for value, count in counts.items() if count > limit}


def _without(fingerprint: CodeFingerprint, boilerplate: set[int]) -> CodeFingerprint:
    """``fingerprint`` less the boilerplate.

    copydetect takes boilerplate when it fingerprints a file; here it is only known once
    every file is, so a copy's hash set, index and coverage (its public attributes) are
    filtered instead of tokenizing every file again (copydetect's own filter also drops
    the earlier places of a repeated passage, which this one keeps)."""
    from copydetect.utils import get_token_coverage

    if not boilerplate & fingerprint.hashes:
        return fingerprint
    kept = copy.copy(fingerprint)
    kept.hashes = fingerprint.hashes - boilerplate
    kept.hash_idx = {h: at for h, at in fingerprint.hash_idx.items() if h not in boilerplate}
    kept.token_coverage = get_token_coverage(
        kept.hash_idx, fingerprint.k, len(fingerprint.filtered_code)
    )
    return kept


def _passages(student: str, code: str, slices: object) -> list[Passage]:
    """The longest stretches of ``code`` that ``slices`` (copydetect's 2 x N array of
    starts and ends in the original code) mark as matched."""
    starts, ends = slices  # type: ignore[misc]
    spans = sorted(zip(starts, ends, strict=True), key=lambda span: span[0] - span[1])
    passages = []
    for start, end in sorted(spans[:PASSAGES_SHOWN]):
        lines = code[int(start) : int(end)].strip("\n").splitlines()
        passages.append(
            Passage(
                student,
                "\n".join(lines[:PASSAGE_LINES]),
                lines_cut=max(0, len(lines) - PASSAGE_LINES),
            )
        )
    return passages
