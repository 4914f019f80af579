"""Real, tiny files for upload tests: photos with GPS in their EXIF, broken files, a decompression bomb."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

GPS_IFD = 0x8825
ORIENTATION = 0x0112
# 31°14′N 121°28′E: the Bund. Nobody's real whereabouts, but plainly a place.
GPS = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="31,14.0N"/></rdf:RDF></x:xmpmeta>')


def _picture(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A picture whose top half is red and bottom half blue, so a rotation shows."""
    image = Image.new("RGB", size, (0, 0, 255))
    ImageDraw.Draw(image).rectangle((0, 0, size[0], size[1] // 2 - 1), fill=(255, 0, 0))
    return image.convert(mode)


def _exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[GPS_IFD] = GPS
    if orientation:
        exif[ORIENTATION] = orientation
    return exif


def jpeg_with_gps(size: tuple[int, int] = (64, 32), *, orientation: int | None = None, quality: int = 90) -> bytes:
    out = io.BytesIO()
    _picture(size).save(out, "JPEG", quality=quality, exif=_exif(orientation), xmp=XMP, comment=b"taken at home")
    return out.getvalue()


def png_with_gps(size: tuple[int, int] = (40, 30), mode: str = "RGBA") -> bytes:
    info = PngInfo()
    info.add_text("Location", "31.23N 121.47E")
    out = io.BytesIO()
    _picture(size, mode).save(out, "PNG", exif=_exif(), pnginfo=info)
    return out.getvalue()


def webp_with_gps(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    _picture(size).save(out, "WEBP", exif=_exif(), xmp=XMP, quality=80)
    return out.getvalue()


def noise_jpeg(size: tuple[int, int] = (200, 200)) -> bytes:
    import random

    rng = random.Random(7)
    image = Image.frombytes("RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def pdf() -> bytes:
    """A minimal one-page PDF."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def zip_file() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("photo.jpg", b"not really")
    return out.getvalue()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'


def png_bomb(side: int = 20_000) -> bytes:
    """A valid PNG of side x side black pixels (1 bit each): tens of KB that decode to hundreds of megapixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + side // 8)
    compressor = zlib.compressobj(9)
    compressed = b"".join(compressor.compress(row * 1000) for _ in range(side // 1000)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", compressed) + chunk(b"IEND", b""))
