"""Time and memory of the image pipeline on large photos, next to libvips's ``vipsthumbnail``.

Three images are generated once into a work directory: 12 MP and 24 MP JPEGs (quality 92) and a 12 MP
PNG, with camera-like content (gradients, shapes and sensor-like noise, so they neither compress to
nothing nor decode unrealistically fast).

What is compared, per image:

* **ours**: ``process_media_file`` with the default options (thumbnails 256 and 1024 plus the 2048 web
  version, progressive JPEG quality 85, blurhash and metadata), timed inside a fresh Python process
  after its imports, so interpreter start-up is not counted. The median of ``--repeat`` runs.
* **vips 3 runs**: three ``vipsthumbnail`` processes making the same three sizes from the original
  (``--size 2048``, ``1024``, ``256``; output ``[Q=85,interlace,strip]``, i.e. progressive JPEG quality 85
  without metadata), wall time including their process start-up. Each run uses shrink-on-load, as a
  vips user would get.
* **vips chained**: one ``vipsthumbnail`` run to 2048 from the original, then 1024 and 256 from that
  2048 output: the same decode-once shape as ours.

The ratio is ours over the faster of the two vips figures (target: at most 2x). vips uses every core
(set ``VIPS_CONCURRENCY=1`` to compare single-threaded); our pipeline runs on one.

Memory: the peak RSS of the fresh process that ran our pipeline (its ``VmHWM``; it includes the
interpreter and imports, shown as "base"), against a budget of 4x the decoded full-size image
(width x height x 3 bytes).

Run from the repository root (about a minute):

    python benchmarks/thumbnails.py [--repeat 3] [--workdir /tmp/tusmedia-thumbnail-bench]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

REPO_ROOT = Path(__file__).resolve().parent.parent
SIZES = (2048, 1024, 256)
VIPS_OUTPUT_OPTIONS = "[Q=85,interlace,strip]"
RATIO_TARGET = 2.0
MEMORY_BUDGET_FACTOR = 4
MIB = 1024 * 1024


@dataclass(frozen=True)
class BenchImage:
    name: str
    width: int
    height: int
    image_format: str


IMAGES = (
    BenchImage("photo_12mp.jpg", 4000, 3000, "JPEG"),
    BenchImage("photo_24mp.jpg", 6000, 4000, "JPEG"),
    BenchImage("large_12mp.png", 4000, 3000, "PNG"),
)


def camera_like(width: int, height: int) -> Image.Image:
    """Smooth gradients and shapes (sky, objects) under per-pixel noise (sensor grain)."""
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.radial_gradient("L").resize((width, height))
    blue = red.transpose(Image.Transpose.ROTATE_180)
    scene = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(scene)
    for index in range(40):
        left, top = (index * 7919) % width, (index * 104729) % height
        radius = 40 + (index * 37) % (min(width, height) // 6)
        colour = ((index * 53) % 256, (index * 97) % 256, (index * 151) % 256)
        draw.ellipse((left, top, left + radius, top + radius), fill=colour)
    grain = Image.merge("RGB", [Image.effect_noise((width, height), 32) for _ in range(3)])
    return Image.blend(scene.filter(ImageFilter.SMOOTH), grain, 0.25)


def generate(workdir: Path) -> list[Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in IMAGES:
        path = workdir / spec.name
        if not path.exists():
            print(f"generating {spec.name} ({spec.width}x{spec.height})", flush=True)
            options = {"quality": 92} if spec.image_format == "JPEG" else {"compress_level": 6}
            camera_like(spec.width, spec.height).save(path, spec.image_format, **options)
        paths.append(path)
    return paths


def run_timed(command: list[str]) -> tuple[float, str]:
    """Wall seconds and stdout of one process."""
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({completed.returncode}): {completed.stderr}")
    return elapsed, completed.stdout


def time_ours(path: Path, repeat: int) -> tuple[float, float, float]:
    """Median seconds, highest peak RSS (MiB) and RSS after imports (MiB), each run in a fresh process."""
    runs = []
    for _ in range(repeat):
        report = json.loads(run_timed([sys.executable, __file__, "--child", str(path)])[1])
        runs.append((report["seconds"], report["peak_kib"] / 1024, report["base_kib"] / 1024))
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs), min(r[2] for r in runs)


def time_vips(path: Path, repeat: int, output_dir: Path) -> tuple[float, float]:
    """Median seconds of (three runs from the original, one run then two from its 2048 output)."""
    separate, chained = [], []
    for _ in range(repeat):
        total = 0.0
        for size in SIZES:
            target = output_dir / f"vips_{size}.jpg{VIPS_OUTPUT_OPTIONS}"
            total += run_timed(["vipsthumbnail", str(path), "--size", str(size), "-o", str(target)])[0]
        separate.append(total)
        web = output_dir / "vips_chain_2048.jpg"
        total = run_timed(["vipsthumbnail", str(path), "--size", "2048", "-o", f"{web}{VIPS_OUTPUT_OPTIONS}"])[0]
        for size in SIZES[1:]:
            target = output_dir / f"vips_chain_{size}.jpg{VIPS_OUTPUT_OPTIONS}"
            total += run_timed(["vipsthumbnail", str(web), "--size", str(size), "-o", str(target)])[0]
        chained.append(total)
    return statistics.median(separate), statistics.median(chained)


def peak_rss_kib() -> int:
    """This process's peak RSS since exec.

    ``VmHWM`` rather than ``ru_maxrss``: on Linux ``ru_maxrss`` keeps the high-water mark of the process
    that forked us, so a child of a large parent would report the parent's size.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(path: Path) -> None:
    """One pipeline run in this (fresh) process; prints seconds, peak RSS and the RSS of the imports alone."""
    sys.path.insert(0, str(REPO_ROOT))
    from workers.processing import ProcessingOptions
    from workers.processing.pipeline import process_media_file

    options = ProcessingOptions(thumbnail_sizes=(256, 1024), max_image_pixels=100_000_000, web_size=2048)
    Image.MAX_IMAGE_PIXELS = options.max_image_pixels
    base_kib = peak_rss_kib()
    with tempfile.TemporaryDirectory() as output, path.open("rb") as source:
        started = time.perf_counter()
        process_media_file(source, Path(output), options)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "base_kib": base_kib, "peak_kib": peak_rss_kib()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "tusmedia-thumbnail-bench")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child)
        return

    paths = generate(arguments.workdir)
    vips = shutil.which("vipsthumbnail")
    if vips is None:
        print("vipsthumbnail not found (Debian: apt-get install libvips-tools): timing our pipeline only.")
    header = (
        f"{'image':<16} {'MB':>5} {'ours s':>7} {'vips3 s':>8} {'vipsch s':>8} {'ratio':>6} "
        f"{'peak MiB':>9} {'base MiB':>9} {'budget MiB':>11}  verdict"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as scratch:
        for spec, path in zip(IMAGES, paths, strict=True):
            seconds, peak_mib, base_mib = time_ours(path, arguments.repeat)
            budget_mib = MEMORY_BUDGET_FACTOR * spec.width * spec.height * 3 / MIB
            verdicts = ["memory ok" if peak_mib <= budget_mib else "MEMORY OVER"]
            vips_columns = f"{'-':>8} {'-':>8} {'-':>6}"
            if vips:
                separate, chained = time_vips(path, arguments.repeat, Path(scratch))
                ratio = seconds / min(separate, chained)
                vips_columns = f"{separate:>8.3f} {chained:>8.3f} {ratio:>6.2f}"
                verdicts.insert(0, "time ok" if ratio <= RATIO_TARGET else "TIME OVER")
            print(
                f"{spec.name:<16} {path.stat().st_size / 1e6:>5.1f} {seconds:>7.3f} {vips_columns} "
                f"{peak_mib:>9.0f} {base_mib:>9.0f} {budget_mib:>11.0f}  {', '.join(verdicts)}",
                flush=True,
            )
    print(f"ratio = ours / min(vips3, vipsch), target <= {RATIO_TARGET}; budget = {MEMORY_BUDGET_FACTOR} x W x H x 3")


if __name__ == "__main__":
    main()
