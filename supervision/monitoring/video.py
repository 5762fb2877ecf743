"""视频监控: the video points (cameras) of the ``video_points`` layer, their streams, and the demo's HLS sample.

A camera's stream is HLS (an ``.m3u8`` playlist), played in the console's feature panel by the vendored hls.js. The
URL a camera plays is, first found:

1. ``monitoring.video.streams[<camera code>]`` in the configuration (a deployment's media server, without editing
   the layer),
2. the layer's own ``stream_url``,
3. the demo sample, when one was generated (``onemap demo build``): ``<var>/video/sample/index.m3u8``, a few seconds
   of a synthetic test pattern (H.264 in MPEG-TS segments) served by the app and looped by the player. No stream
   server is needed for the demo.

A stream on another origin must be allowed by the Content-Security-Policy (``connect-src``/``media-src``): serve it
through the same origin (the reverse proxy) in a deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from core.errors import NotFound
from core.scope import RowAccess

SAMPLE_DIR = ("video", "sample")       # below the var directory
SAMPLE_PLAYLIST = "index.m3u8"
SAMPLE_URL = "api/monitoring/video/sample/" + SAMPLE_PLAYLIST   # below the app root
SAMPLE_SECONDS = 6
SAMPLE_FPS = 10
SAMPLE_SIZE = (320, 180)
SEGMENT_SECONDS = 2

def sample_dir(var: Path) -> Path:
    return var.joinpath(*SAMPLE_DIR)


def write_sample(target: Path, label: str = "ONEMAP DEMO CAMERA") -> Path:
    """A short HLS sample (H.264, MPEG-TS segments, VOD playlist) of a moving test pattern with a running clock.

    Written into a fresh folder beside ``target`` and moved into place, so a player never reads half a playlist.
    Returns the playlist's path."""
    import shutil
    import tempfile

    import av
    from PIL import Image, ImageDraw, ImageFont

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".sample-", dir=target.parent))
    width, height = SAMPLE_SIZE
    bars = [(192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0), (192, 0, 192), (192, 0, 0), (0, 0, 192)]
    font = ImageFont.load_default(size=15)
    out = av.open(str(work / SAMPLE_PLAYLIST), "w", format="hls",
                  options={"hls_time": str(SEGMENT_SECONDS), "hls_list_size": "0", "hls_playlist_type": "vod",
                           "hls_segment_filename": str(work / "segment%03d.ts")})
    try:
        stream = out.add_stream("libx264", rate=SAMPLE_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # a key frame at each segment's start: every segment can be played on its own (looping, seeking)
        gop = str(SAMPLE_FPS * SEGMENT_SECONDS)
        stream.options = {"preset": "veryfast", "g": gop, "keyint_min": gop, "sc_threshold": "0"}
        for i in range(SAMPLE_SECONDS * SAMPLE_FPS):
            image = Image.new("RGB", (width, height))
            draw = ImageDraw.Draw(image)
            for k, colour in enumerate(bars):
                draw.rectangle([k * width // len(bars), 0, (k + 1) * width // len(bars), height * 2 // 3], fill=colour)
            x = (i * 6) % width
            draw.rectangle([x, height * 2 // 3 + 4, x + 24, height * 2 // 3 + 20], fill=(255, 255, 255))
            draw.text((8, height - 26), f"{label}  {i / SAMPLE_FPS:04.1f}s", fill=(255, 255, 255), font=font)
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    finally:
        out.close()
    if target.exists():
        shutil.rmtree(target)
    work.rename(target)
    return target / SAMPLE_PLAYLIST


def load_demo(var: Path) -> str:
    """The HLS sample the demo city's cameras play (their rows come with the city: data/demo/hazards.py)."""
    playlist = write_sample(sample_dir(var))
    return f"video sample: {playlist}"


def stream(conn: Connection, code: str, streams: Mapping[str, str], sample_available: bool, *,
           access: RowAccess) -> dict[str, Any]:
    """The stream a camera the caller may read plays: ``{code, name, status, url, source}`` where ``source`` is
    ``configuration``, ``layer``, ``sample`` or ``none`` (then ``url`` is null)."""
    where, params = access.where("video_points", alias="v")
    row = conn.execute(text(f"SELECT v.code, v.name, v.status, v.stream_url, v.hazard_source_code, v.enterprise_uscc "
                            f"FROM video_points v WHERE v.code = :code AND {where}"),
                       {**params, "code": code}).mappings().first()
    if row is None:
        note = getattr(access, "note_hidden", None)
        if note is not None:
            note(conn, "video_points", code, id_field="code")
        raise NotFound(f"no video point {code!r}", f"视频点位 {code} 不存在", details={"video_point": code})
    if streams.get(row["code"]):
        url, source = streams[row["code"]], "configuration"
    elif row["stream_url"]:
        url, source = row["stream_url"], "layer"
    elif sample_available:
        url, source = None, "sample"   # the view makes the URL (below the app root)
    else:
        url, source = None, "none"
    return {"code": row["code"], "name": row["name"], "status": row["status"],
            "hazard_source_code": row["hazard_source_code"], "enterprise_uscc": row["enterprise_uscc"],
            "url": url, "source": source, "format": "hls"}


__all__ = ["SAMPLE_PLAYLIST", "SAMPLE_URL", "load_demo", "sample_dir", "stream", "write_sample"]
