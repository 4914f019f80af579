"""The PDF's Chinese font: Noto Sans CJK SC cut down to GB2312 + ASCII once, then reused.

WeasyPrint embeds a subset of each font it uses, and subsetting the full CFF font (65,000 glyphs)
takes 8–16 s a page. A font already cut down to GB2312's 7,445 characters and ASCII (about 3 MB,
built once in about 45 s of CPU) makes a page take under 2 s. The cut-down font is written to
`instance/fonts/` on first use (atomically: a temporary file, then a rename, so two processes
building it at once leave one good file); the full Noto Sans CJK SC stays in the CSS chain after it
for characters outside GB2312 (rare characters in names). The fonts come from Debian's
`fonts-noto-cjk` (SIL Open Font License 1.1).

The build runs in a child process (`python -m app.services.bulletins.fonts TARGET`): fontTools is
pure Python, and 45 s of it in the task worker's own process would hold the interpreter lock from
the worker's other threads, stretching their database transactions (on SQLite, every request of
the service queues behind such a transaction's write lock).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

# Debian's fonts-noto-cjk; the collection holds the JP, KR, SC, TC and HK faces.
SOURCES = (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
           Path("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc"))
FAMILY = "Noto Sans CJK SC"
SUBSET_NAME = "NotoSansCJKsc-GB2312.otf"
_lock = threading.Lock()
# A build takes under a minute of CPU; a busy machine gets ten. A temporary file older than an hour
# was left by a build that was killed.
_BUILD_TIMEOUT_SECONDS = 600
_STALE_TEMPORARY_SECONDS = 3600


class FontMissing(RuntimeError):
    """Noto Sans CJK is not installed (apt-get install fonts-noto-cjk)."""


def gb2312_characters() -> str:
    """Every character of GB2312 (rows 0xA1–0xF7, cells 0xA1–0xFE) and printable ASCII."""
    characters = [chr(code) for code in range(0x20, 0x7F)]
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                characters.append(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    # Punctuation the bulletins print that GB2312 lacks or maps elsewhere.
    characters.extend("—–·•“”‘’…《》「」『』【】〔〕（）％＋－")
    return "".join(dict.fromkeys(characters))


def source_font() -> Path:
    for path in SOURCES:
        if path.is_file():
            return path
    raise FontMissing("Noto Sans CJK SC is not installed: apt-get install fonts-noto-cjk")


def subset_font(directory: Path) -> Path:
    """The cut-down font in `directory`, built on first use and cached."""
    target = directory / SUBSET_NAME
    if target.is_file():
        return target
    with _lock:
        if target.is_file():
            return target
        source = source_font()
        _remove_stale_temporaries(directory)
        done = subprocess.run([sys.executable, "-m", __name__, str(source), str(target)], capture_output=True,
                              text=True, timeout=_BUILD_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
        if done.returncode != 0 or not target.is_file():
            raise RuntimeError(f"building {target.name} failed (exit {done.returncode}): {done.stderr[-2000:]}")
        logger.info("wrote the GB2312 subset of %s to %s", FAMILY, target)
    return target


def _remove_stale_temporaries(directory: Path) -> None:
    if not directory.is_dir():
        return
    for path in directory.glob("*.otf.tmp"):
        try:
            if time.time() - path.stat().st_mtime > _STALE_TEMPORARY_SECONDS:
                path.unlink()
        except FileNotFoundError:
            continue


def _build(source: Path, target: Path) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTCollection

    target.parent.mkdir(parents=True, exist_ok=True)
    collection = TTCollection(str(source), lazy=True)
    face = next((font for font in collection.fonts if FAMILY in (font["name"].getDebugName(1) or "")), None)
    if face is None:
        raise FontMissing(f"{source} holds no {FAMILY} face")
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=gb2312_characters())
    subsetter.subset(face)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".otf.tmp")
    os.close(handle)
    os.chmod(temporary, 0o644)
    try:
        face.save(temporary)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


if __name__ == "__main__":
    _build(Path(sys.argv[1]), Path(sys.argv[2]))
