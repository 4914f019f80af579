"""What an upload is judged by: its bytes. Photos lose their EXIF (GPS above all), stand upright, get a thumbnail."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from app.errors import DomainError
from app.extensions import db
from app.services import files, uploads
from models import Upload, UploadPurpose
from tests import factories as f
from tests import images

PHOTO = UploadPurpose.ACTIVITY_PHOTO
EVIDENCE = UploadPurpose.EVIDENCE


def _no_location(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert not image.getexif(), "EXIF kept"
    assert not set(image.info) & {"exif", "xmp", "XML:com.adobe.xmp", "comment", "Location"}, image.info
    for trace in (b"Exif", b"EXIF", b"eXIf", b"GPS", b"PhoneMaker", b"taken at home", b"31.23N", b"xmpmeta"):
        assert trace not in data, trace
    return image


@pytest.mark.parametrize("make, content_type", [(images.jpeg_with_gps, "image/jpeg"), (images.png_with_gps, "image/png"),
                                                (images.webp_with_gps, "image/webp")])
def test_gps_and_every_other_metadata_are_gone_and_a_thumbnail_is_made(app_context, make, content_type):
    original = make()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(images.GPS_IFD) == images.GPS
    checked = uploads.check(original, PHOTO)
    assert checked.content_type == content_type
    image = _no_location(checked.data)
    assert image.size == (checked.width, checked.height) == Image.open(io.BytesIO(original)).size
    thumbnail = Image.open(io.BytesIO(checked.thumbnail))
    assert thumbnail.format == "JPEG" and thumbnail.size == image.size  # small already: not enlarged


def test_orientation_is_applied_before_the_exif_goes(app_context):
    # Orientation 6: the camera was turned; the picture is shown rotated 90° clockwise.
    checked = uploads.check(images.jpeg_with_gps((64, 32), orientation=6), PHOTO)
    image = _no_location(checked.data).convert("RGB")
    assert (checked.width, checked.height) == image.size == (32, 64)
    # The red top half of the stored picture is now on the right.
    assert image.getpixel((28, 32))[0] > 200 and image.getpixel((3, 32))[2] > 200


def test_a_large_photo_gets_a_thumbnail_of_320_on_its_longest_side(app_context):
    checked = uploads.check(images.jpeg_with_gps((1200, 900)), PHOTO)
    thumbnail = Image.open(io.BytesIO(checked.thumbnail))
    assert thumbnail.size == (320, 240) and thumbnail.format == "JPEG"
    assert (checked.width, checked.height) == (1200, 900)


def test_a_transparent_png_keeps_its_alpha_and_its_thumbnail_is_on_white(app_context):
    checked = uploads.check(images.png_with_gps(mode="RGBA"), PHOTO)
    assert Image.open(io.BytesIO(checked.data)).mode == "RGBA"
    assert Image.open(io.BytesIO(checked.thumbnail)).mode == "RGB"


def _encoded(image: Image.Image, kind: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def _animated(kind: str) -> bytes:
    frames = [Image.new("RGBA", (30, 20), (index * 40, 0, 0, 255)) for index in range(3)]
    return _encoded(frames[0], kind, save_all=True, append_images=frames[1:])


@pytest.mark.parametrize("data, mode", [
    (_encoded(Image.new("I;16", (50, 40), 30000), "PNG"), "I;16"),
    (_encoded(Image.new("P", (50, 40), 3), "PNG", transparency=3), "P"),
    (_encoded(Image.new("LA", (50, 40), (100, 50)), "PNG"), "LA"),
    (_encoded(Image.new("1", (50, 40), 1), "PNG"), "1"),
    (_encoded(Image.new("L", (50, 40), 5), "PNG", transparency=5), "L"),
    (_encoded(Image.new("CMYK", (50, 40), (10, 20, 30, 40)), "JPEG"), "RGB"),
    (_encoded(Image.new("L", (50, 40), 9), "JPEG"), "L"),
    (_encoded(Image.new("RGBA", (50, 40), (1, 2, 3, 4)), "WEBP", lossless=True), "RGBA"),
    (_animated("WEBP"), "RGB"),
    (_animated("PNG"), "RGBA"),
], ids=["png-16-bit", "png-palette", "png-grey-alpha", "png-1-bit", "png-grey-transparent", "jpeg-cmyk",
        "jpeg-grey", "webp-alpha", "webp-animated", "apng"])
def test_every_pixel_mode_is_kept_or_converted_never_a_500(app_context, data, mode):
    checked = uploads.check(data, EVIDENCE)
    assert Image.open(io.BytesIO(checked.data)).mode == mode
    assert Image.open(io.BytesIO(checked.thumbnail)).mode == "RGB"


def test_a_png_named_pdf_is_a_png_the_name_does_not_count(app_context):
    checked = uploads.check(images.png_with_gps(), EVIDENCE)
    assert checked.content_type == "image/png" and checked.thumbnail is not None


def test_a_pdf_is_evidence_kept_as_it_is_but_never_a_photo(app_context):
    document = images.pdf()
    checked = uploads.check(document, EVIDENCE)
    assert checked.content_type == "application/pdf" and checked.data == document and checked.thumbnail is None
    with pytest.raises(DomainError) as refused:
        uploads.check(document, PHOTO)
    assert (refused.value.code, refused.value.status) == ("unsupported_file_type", 415)


@pytest.mark.parametrize("data", [images.zip_file(), images.SVG, b"GIF89a" + b"\x00" * 40, b"just text",
                                  b"\x00\x00\x00\x18ftypheic" + b"\x00" * 40],
                         ids=["zip", "svg", "gif", "text", "heic"])
def test_anything_but_jpeg_png_webp_and_pdf_is_415(app_context, data):
    with pytest.raises(DomainError) as refused:
        uploads.check(data, EVIDENCE)
    assert (refused.value.code, refused.value.status) == ("unsupported_file_type", 415)


@pytest.mark.parametrize("data", [images.noise_jpeg()[:20_000], images.jpeg_with_gps()[:300],
                                  images.png_with_gps()[:100], images.pdf()[:-40]],
                         ids=["truncated-jpeg", "jpeg-header-only", "truncated-png", "pdf-without-eof"])
def test_a_truncated_file_is_422_corrupt_file(app_context, data):
    with pytest.raises(DomainError) as refused:
        uploads.check(data, EVIDENCE)
    assert (refused.value.code, refused.value.status) == ("corrupt_file", 422)


@pytest.mark.parametrize("data", [images.noise_jpeg()[:20_000], images.png_with_gps((400, 300))[:-40],
                                  images.webp_with_gps()[:-20]], ids=["jpeg", "png", "webp"])
def test_a_truncated_image_is_refused_even_when_pillow_is_told_to_load_truncated_images(app_context, data,
                                                                                         monkeypatch):
    # WeasyPrint sets this process-wide on import; the service must not depend on it.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(DomainError) as refused:
        uploads.check(data, EVIDENCE)
    assert refused.value.code == "corrupt_file"


@pytest.mark.parametrize("data", [images.noise_jpeg(), images.jpeg_with_gps(), images.png_with_gps(),
                                  images.webp_with_gps(), images.jpeg_with_gps() + b"PK\x03\x04" * 64],
                         ids=["jpeg", "jpeg-exif", "png", "webp", "jpeg-with-trailer"])
def test_whole_images_pass_the_completeness_check(data):
    content_type = uploads.sniff(data[:16])
    assert uploads._is_complete(data, content_type)


def test_a_decompression_bomb_is_refused_before_it_is_decoded(app_context):
    bomb = images.png_bomb()  # ~50 KB declaring 20,000 x 20,000 pixels
    assert len(bomb) < 100_000
    with pytest.raises(DomainError) as refused:
        uploads.check(bomb, PHOTO)
    assert (refused.value.code, refused.value.status) == ("image_too_large", 422)


def test_the_pixel_and_byte_limits_come_from_the_configuration(make_app):
    with make_app(files={"upload_max_pixels": 10_000, "upload_max_bytes": 4096}).app_context():
        with pytest.raises(DomainError) as refused:
            uploads.check(images.jpeg_with_gps((200, 100)), PHOTO)
        assert refused.value.code == "image_too_large"
        with pytest.raises(DomainError) as refused:
            uploads.check(images.noise_jpeg((60, 60)), PHOTO)
        assert (refused.value.code, refused.value.status) == ("file_too_large", 413)
        assert uploads.check(images.jpeg_with_gps((90, 100)), PHOTO).width == 90


def test_a_zip_appended_to_a_jpeg_does_not_survive_re_encoding(app_context):
    polyglot = images.jpeg_with_gps() + images.zip_file()
    checked = uploads.check(polyglot, PHOTO)
    assert b"PK\x03\x04" not in checked.data and b"photo.jpg" not in checked.data


def test_an_empty_file_is_422_naming_the_field(app_context):
    with pytest.raises(DomainError) as refused:
        uploads.check(b"", PHOTO)
    assert refused.value.code == "validation_failed" and "file" in refused.value.fields


def test_files_stored_in_a_transaction_that_rolls_back_are_deleted(app_context, now):
    owner = f.account("sim_uploader", now)
    db.session.commit()
    kept = uploads.receive(owner.id, PHOTO, uploads.check(images.jpeg_with_gps(), PHOTO), now=now)
    db.session.commit()
    dropped = uploads.receive(owner.id, PHOTO, uploads.check(images.png_with_gps(), PHOTO), now=now)
    dropped_keys = (dropped.storage_key, dropped.thumbnail_key)
    db.session.rollback()
    assert files.exists(kept.storage_key) and files.exists(kept.thumbnail_key)
    assert not any(files.exists(key) for key in dropped_keys)
    assert db.session.query(Upload).count() == 1
