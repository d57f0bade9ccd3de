"""A corpus of awkward and broken image files, built by the tests (issue: reliability)."""

import io
import os

import numpy as np
from PIL import Image

# name -> whether a tolerant reader should decode it
EXPECTED_READABLE = {
    "missing.jpg": False,
    "empty.jpg": False,
    "truncated.jpg": False,
    "text.jpg": False,
    "cmyk.jpg": True,
    "gray16.png": True,
    "rgba.png": True,
    "palette.png": True,
    "one_pixel.png": True,
    "large.jpg": True,
    "exif_rotated.jpg": True,
    "animated.gif": True,
}


def build(out_dir, source_path):
    """Writes the corpus next to nothing else; returns ``{name: path}``.

    Args:
        out_dir: a folder to write into
        source_path: a real photograph the valid variants are made from
    """
    os.makedirs(out_dir, exist_ok=True)
    src = Image.open(source_path).convert("RGB")
    p = {name: os.path.join(out_dir, name) for name in EXPECTED_READABLE}

    open(p["empty.jpg"], "wb").close()
    with open(p["text.jpg"], "w") as f:
        f.write("this is a text file, not a JPEG\n")
    buf = io.BytesIO()
    src.save(buf, "JPEG", quality=90)
    with open(p["truncated.jpg"], "wb") as f:
        f.write(buf.getvalue()[: len(buf.getvalue()) // 3])

    src.convert("CMYK").save(p["cmyk.jpg"], "JPEG")
    gray = np.asarray(src.convert("L"), dtype=np.uint16) * 257
    Image.fromarray(gray).save(p["gray16.png"])
    rgba = src.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(p["rgba.png"])
    src.convert("P", palette=Image.ADAPTIVE, colors=64).save(p["palette.png"])
    Image.new("RGB", (1, 1), (200, 30, 30)).save(p["one_pixel.png"])
    src.resize((9000, 6000)).save(p["large.jpg"], quality=70)

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    src.resize((300, 200)).save(p["exif_rotated.jpg"], exif=exif.tobytes())

    frames = [src.resize((64, 48)), src.resize((64, 48)).transpose(Image.FLIP_LEFT_RIGHT)]
    frames[0].save(p["animated.gif"], save_all=True, append_images=frames[1:], duration=100,
                   loop=0)
    return p
