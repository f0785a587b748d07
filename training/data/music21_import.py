"""Import the corpus that ships with music21 (Essen folk songs, O'Neill's, Bach chorales, ...).

Parsing is slow (tens of ms per ABC tune, more per MusicXML chorale), so a converted corpus
is cached as one `.npz` per corpus name; loading it takes milliseconds. The cache file name
and contents carry CACHE_FORMAT_VERSION (and the music21 version, since a new music21 may
parse differently): a mismatch is a miss, and the corpus is parsed again.

Conversion choices, and why:
- An ABC file is an opus of many tunes. It is split into tunes here, before parsing, so
  the tunes spread over the worker processes and a tune music21 cannot parse costs one tune.
- Ties are merged here, only between notes of the same pitch. music21's `stripTies` trusts
  any "stop" tie, and O'Neill's ABC writes "G3-A" (a slur mark), which it would turn into
  one long G with the A lost.
- An accidental holds to the end of its bar, as in staff notation and the ABC 2.1 standard.
  music21 reads ABC without a version line as ABC 1.x and lets accidentals apply to one
  note only, but the Essen transcriptions never repeat an accidental within a bar (0
  times) while a bare note follows one in the same bar ~1000 times: they were written
  for the bar rule. A tune without a version line is therefore read as ABC 2.1.
- Repeats are not expanded; chord symbols (annotations) and unpitched percussion are not
  notes; grace notes have no length on the grid and are dropped.

music21 is imported inside the functions that parse: it takes ~0.3 s to import, and
loading from the cache, the common case, never needs it.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree.ElementTree import ParseError as XMLParseError

import numpy as np

from antiphon.engine.events import TICKS_PER_BEAT
from antiphon.training.data.event_tables import EventTable, ImportReport, notes_to_events
from antiphon.training.data.workers import map_in_workers

if TYPE_CHECKING:
    from music21 import note, stream

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 2  # bump when the conversion or the .npz layout changes
DEFAULT_VELOCITY = 80  # scores rarely say how loud; 80 is a plain mezzo-forte
# Encodings of one piece in one folder, most faithful first: the bach folder holds a few
# chorales as both .mxl and .krn, and a piece twice would sit in two splits at once.
ENCODING_PREFERENCE = (".mxl", ".musicxml", ".xml", ".krn", ".abc", ".mid", ".midi")
# music21 raises its own exceptions (Music21Exception) for bad input, but its parsers also
# let plain Python errors escape on malformed files; these, per piece, mean "skip this piece".
BUILTIN_PARSE_ERRORS = (ValueError, TypeError, IndexError, KeyError, AttributeError,
                        ZeroDivisionError, XMLParseError, zipfile.BadZipFile, OSError)

ABC_VERSION_LINE = "%abc-2.1\n"  # accidentals hold to the end of the bar (module docstring)
_TUNE_START = re.compile(r"^(?=X:)", re.MULTILINE)
_REFERENCE = re.compile(r"X:\s*(\S*)")


@dataclass(frozen=True)
class ParseTask:
    """One unit of work for a worker: an ABC tune (its text), or a whole file (its path)."""

    piece_id: str
    path: Path
    abc_text: str | None = None


def default_cache_dir() -> Path:
    """`$ANTIPHON_CACHE`, else the platform's cache folder (~/.cache/antiphon, or under
    `$XDG_CACHE_HOME`): the same place as the daemon's `paths.cache_dir()`, which training
    may not import."""
    import platformdirs

    configured = os.environ.get("ANTIPHON_CACHE")
    return Path(configured) if configured else platformdirs.user_cache_path("antiphon")


def music21_version() -> str:
    """From the package metadata: cheap, where `import music21` is not."""
    return importlib.metadata.version("music21")


def cache_path(cache_dir: Path, name: str, limit: int | None = None) -> Path:
    suffix = "" if limit is None else f"-first{limit}"
    return cache_dir / f"music21-{name}-v{CACHE_FORMAT_VERSION}{suffix}.npz"


def corpus_files(name: str, report: ImportReport) -> list[Path]:
    """The corpus's score files, sorted; analyses and second encodings are reported skipped."""
    from music21 import corpus

    if not name.strip() or not name.isidentifier():
        # getComposer matches by substring: "" would take the whole corpus (~20k files).
        raise ValueError(f"{name!r} is not a music21 corpus name; try essenFolksong, "
                         "oneills1850, bach, ryansMammoth")
    paths = sorted(Path(p) for p in corpus.getComposer(name))
    if not paths:
        raise ValueError(f"music21 has no corpus named {name!r} (corpus.getComposer found "
                         "no files); try essenFolksong, oneills1850, bach, ryansMammoth")
    by_stem: dict[Path, list[Path]] = {}
    for path in paths:
        if path.suffix.lower() not in ENCODING_PREFERENCE:
            # e.g. bach/choraleAnalyses/*.rntxt: roman-numeral analyses, not notes to play
            report.skip(piece_id_for(path), f"not a score: {path.suffix} file", logging.INFO)
            continue
        by_stem.setdefault(path.with_suffix(""), []).append(path)
    chosen = []
    for versions in by_stem.values():
        versions.sort(key=lambda p: ENCODING_PREFERENCE.index(p.suffix.lower()))
        chosen.append(versions[0])
        for other in versions[1:]:
            report.skip(piece_id_for(other), f"duplicate encoding: {piece_id_for(versions[0])}",
                        logging.INFO)
    return sorted(chosen)


def piece_id_for(path: Path) -> str:
    """The path inside music21's corpus, e.g. "bach/bwv1.6.mxl": the same on every machine."""
    from music21 import common

    try:
        return path.relative_to(common.getCorpusFilePath()).as_posix()
    except ValueError:  # a corpus registered from elsewhere
        return f"{path.parent.name}/{path.name}"


def read_abc_tunes(path: Path) -> list[tuple[str, str]]:
    """(reference, text) per tune; the file header (before the first X:) is prepended to
    every tune, since it holds defaults such as the ABC version that apply to all; a file
    that names no version gets ABC_VERSION_LINE."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")  # what music21 itself assumes
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # older ABC collections; only titles are affected
    header, *tunes = _TUNE_START.split(text)
    if "%abc-" not in header:
        header = ABC_VERSION_LINE + header
    result = []
    for number, tune in enumerate(tunes, start=1):
        match = _REFERENCE.match(tune)
        reference = match.group(1) if match and match.group(1) else f"n{number}"
        result.append((reference, header + tune))
    return result


def parse_tasks(paths: list[Path], report: ImportReport) -> list[ParseTask]:
    tasks = []
    for path in paths:
        piece_id = piece_id_for(path)
        if path.suffix.lower() != ".abc":
            tasks.append(ParseTask(piece_id, path))
            continue
        try:
            tunes = read_abc_tunes(path)
        except OSError as err:
            report.skip(piece_id, f"unreadable: {err}")
            continue
        seen: set[str] = set()
        for reference, text in tunes:
            tune_id = f"{piece_id}#{reference}"
            while tune_id in seen:  # a reused X: number still needs an id of its own
                tune_id += "'"
            seen.add(tune_id)
            tasks.append(ParseTask(tune_id, path, text))
    return tasks


def _ticks(quarter_length: float) -> int:
    return round(float(quarter_length) * TICKS_PER_BEAT)


def _velocity(member: note.NotRest, holder: note.NotRest) -> int:
    for source in (member, holder):  # a chord's note may carry its own, else the chord's
        if source.hasVolumeInformation() and source.volume.velocity is not None:
            return source.volume.velocity
    return DEFAULT_VELOCITY


def score_to_notes(score: stream.Stream) -> np.ndarray:
    """Notes int64 [N, 4] (start tick, end tick, pitch, velocity), ties merged by pitch."""
    from music21 import chord, harmony, note

    notes: list[list[int]] = []
    open_ties: dict[int, int] = {}  # pitch -> index in notes of a note tied onwards
    for element in score.flatten().notes:  # in offset order
        if isinstance(element, harmony.Harmony):
            continue  # chord symbols annotate the tune; nobody plays them
        if isinstance(element, note.Note):
            members = [element]
        elif isinstance(element, chord.Chord):
            members = list(element.notes)
        else:
            continue  # unpitched percussion
        start = _ticks(element.offset)
        end = _ticks(element.offset + element.quarterLength)
        if end <= start:
            continue  # grace notes, and anything shorter than half a tick
        for member in members:
            pitch = member.pitch.midi
            tie = member.tie if member.tie is not None else element.tie
            tie_type = tie.type if tie is not None else None
            index = open_ties.pop(pitch, None)
            if index is None or tie_type not in ("stop", "continue") or notes[index][1] != start:
                index = len(notes)
                notes.append([start, end, pitch, _velocity(member, element)])
            else:
                notes[index][1] = end
            if tie_type in ("start", "continue"):
                open_ties[pitch] = index
    return np.array(notes, dtype=np.int64).reshape(-1, 4)


def parse_task(task: ParseTask) -> list[tuple[str, np.ndarray | None, str]]:
    """Runs in a worker: (piece id, events or None, why None) for each piece in the task."""
    from music21 import converter, stream
    from music21.exceptions21 import Music21Exception

    try:
        if task.abc_text is not None:
            parsed = converter.parseData(task.abc_text, format="abc")
        else:
            # forceSource: we keep our own cache; music21's pickles would only fill /tmp
            parsed = converter.parse(task.path, forceSource=True)
    except (Music21Exception, *BUILTIN_PARSE_ERRORS) as err:
        return [(task.piece_id, None, f"{type(err).__name__}: {err}")]
    if isinstance(parsed, stream.Opus):
        scores = list(parsed.scores)
        named = [(f"{task.piece_id}#{i}", s) for i, s in enumerate(scores, start=1)]
        if len(scores) == 1:
            named = [(task.piece_id, scores[0])]
    else:
        named = [(task.piece_id, parsed)]
    results: list[tuple[str, np.ndarray | None, str]] = []
    for piece_id, score in named:
        events = notes_to_events(score_to_notes(score))
        if len(events) == 0:
            results.append((piece_id, None, "no notes: nothing with a pitch and a length"))
        else:
            results.append((piece_id, events, ""))
    return results


def save_cache(path: Path, table: EventTable, report: ImportReport) -> None:
    """Write the cache atomically: a crash mid-write must not leave a half file to trust."""
    path.parent.mkdir(parents=True, exist_ok=True)
    skipped = np.array(report.skipped, dtype=str).reshape(-1, 2)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        np.savez(file, format_version=np.int64(CACHE_FORMAT_VERSION),
                 music21_version=np.array(music21_version()), source=np.array(table.source),
                 ids=np.array(table.ids, dtype=str), events=table.events,
                 offsets=table.offsets, skipped=skipped, files=np.int64(report.files))
    os.replace(temporary, path)


def load_cache(path: Path, name: str) -> tuple[EventTable, ImportReport] | None:
    """The cached corpus, or None (with the reason logged) if missing, stale or unreadable."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            version = int(data["format_version"])
            made_with = str(data["music21_version"])
            if version != CACHE_FORMAT_VERSION or made_with != music21_version():
                logger.info("%s: cache %s is stale (format %d, music21 %s); parsing again",
                            name, path, version, made_with)
                return None
            table = EventTable(name, data["ids"].tolist(), data["events"], data["offsets"])
            report = ImportReport(name, files=int(data["files"]), pieces=len(table),
                                  skipped=[tuple(row) for row in data["skipped"].tolist()],
                                  from_cache=True)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        logger.warning("%s: cache %s is unreadable (%s); parsing again", name, path, err)
        return None
    return table, report


def _first(table: EventTable, report: ImportReport, limit: int | None) -> EventTable:
    if limit is None or limit >= len(table):
        return table
    end = int(table.offsets[limit])
    report.pieces = limit
    return EventTable(table.source, table.ids[:limit], table.events[:end],
                      table.offsets[: limit + 1])


def parse_corpus(name: str, workers: int | None = None,
                 limit: int | None = None) -> tuple[EventTable, ImportReport]:
    """Parse a music21 corpus (no cache); `limit` keeps the first pieces in path order."""
    report = ImportReport(name)
    tasks = parse_tasks(corpus_files(name, report), report)
    if limit is not None:
        tasks = tasks[:limit]
    report.files = len({task.path for task in tasks})
    logger.info("%s: parsing %d tunes/files from %d files", name, len(tasks), report.files)
    ids: list[str] = []
    arrays: list[np.ndarray] = []
    started = time.monotonic()
    for done, results in enumerate(map_in_workers(parse_task, tasks, workers), start=1):
        for piece_id, events, reason in results:
            if events is None:
                report.skip(piece_id, reason)
            else:
                ids.append(piece_id)
                arrays.append(events)
        if done % 500 == 0:
            logger.info("%s: %d/%d parsed (%.0f s)", name, done, len(tasks),
                        time.monotonic() - started)
    table = EventTable.from_pieces(name, ids, arrays)
    report.pieces = len(table)
    return _first(table, report, limit), report


def import_music21_corpus(
    name: str, cache_dir: Path | None = None, workers: int | None = None,
    limit: int | None = None,
) -> tuple[EventTable, ImportReport]:
    """A music21 corpus as an EventTable, from the cache when it holds it, else parsed
    (and then cached). With `limit`, the first `limit` pieces: sliced from the full cache
    when there is one, else parsed and cached under a name of their own."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    started = time.monotonic()
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    for path in dict.fromkeys([cache_path(cache_dir, name), cache_path(cache_dir, name, limit)]):
        cached = load_cache(path, name)
        if cached is not None:
            table, report = cached
            table = _first(table, report, limit)
            report.seconds = time.monotonic() - started
            return table, report
    table, report = parse_corpus(name, workers, limit)
    path = cache_path(cache_dir, name, limit)
    try:
        save_cache(path, table, report)
    except OSError as err:  # a read-only home still trains, only slower next time
        logger.warning("%s: could not write the cache %s: %s", name, path, err)
    report.seconds = time.monotonic() - started
    logger.info("%s", report)
    return table, report
