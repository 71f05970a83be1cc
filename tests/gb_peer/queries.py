"""A device's answers to the platform's queries: Catalog, RecordInfo, presets, PTZ position, snapshots."""

from __future__ import annotations

from datetime import datetime, timedelta
from xml.sax.saxutils import escape

from tests.gb_peer.messages import DEVICE_TZ, body, xml_tag


class QueryAnswers:
    """SimDevice's multi-MESSAGE answers (mixed into tests/gb_peer/device.py)."""

    async def _answer_catalog(self, sn: int) -> None:
        chunks = [self.channels[i : i + self.page_size] for i in range(0, len(self.channels), self.page_size)]
        drop, self.catalog_drop_pages = self.catalog_drop_pages, set()  # lossy once: a re-query gets all
        self.catalog_queries += 1
        for page, chunk in enumerate(chunks or [[]]):
            if page in drop:
                continue
            items = "".join(c.xml(lowercase_info=i % 2 == 1) for i, c in enumerate(chunk))
            inner = (
                f"<SumNum>{len(self.channels)}</SumNum>"
                f'<DeviceList Num="{len(chunk)}">{items}</DeviceList>\r\n'
            )
            await self.message(body("Response", "Catalog", sn, self.device_id, inner, self.charset))
        self.catalog_answered.set()

    # --- RecordInfo --------------------------------------------------------------------------------

    def recordings(self) -> list[tuple[datetime, datetime]]:
        if self.records is not None:
            return self.records
        hour = datetime.now(DEVICE_TZ).replace(tzinfo=None, minute=0, second=0, microsecond=0)
        return [(hour - timedelta(hours=h + 1), hour - timedelta(hours=h)) for h in range(72)][::-1]

    async def _answer_records(self, sn: int, query: str) -> None:
        def tag(name: str) -> str:
            return query.split(f"<{name}>")[1].split(f"</{name}>")[0]

        channel, start, end = tag("DeviceID"), datetime.fromisoformat(tag("StartTime")), datetime.fromisoformat(
            tag("EndTime"))
        found = [(a, b) for a, b in self.recordings() if a < end and b > start]
        pages = [found[i : i + self.record_page_size] for i in range(0, len(found), self.record_page_size)]
        for k, page in enumerate(pages or [[]]):
            if k in self.record_skip_pages:
                continue
            items = "".join(
                f"<Item><DeviceID>{channel}</DeviceID><Name>录像{a:%H%M}</Name>"
                f"<FilePath>/rec/{channel}/{a:%Y%m%d%H%M%S}.mp4</FilePath><Address>仓库</Address>"
                f"<StartTime>{a:%Y-%m-%dT%H:%M:%S}</StartTime><EndTime>{b:%Y-%m-%dT%H:%M:%S}</EndTime>"
                f"<Secrecy>0</Secrecy><Type>time</Type><RecorderID>{self.device_id}</RecorderID>"
                f"<FileSize>{int((b - a).total_seconds()) * 250_000}</FileSize></Item>"
                for a, b in page
            )
            inner = (
                f"<Name>SimCam</Name><SumNum>{len(found)}</SumNum>"
                f'<RecordList Num="{len(page)}">{items}</RecordList>\r\n'
            )
            await self.message(body("Response", "RecordInfo", sn, channel, inner, self.charset))

    # --- channel control: presets, PTZ position, snapshots ---------------------------------------------

    async def _answer_presets(self, sn: int, channel: str) -> None:
        size = self.preset_page_size
        pages = [self.presets[i : i + size] for i in range(0, len(self.presets), size)]
        for page in pages or [[]]:
            items = "".join(f"<Item><PresetID>{n}</PresetID><PresetName>{escape(name)}</PresetName></Item>"
                            for n, name in page)
            inner = (f"<SumNum>{len(self.presets)}</SumNum>"
                     f'<PresetList Num="{len(self.presets)}">{items}</PresetList>\r\n')
            await self.message(body("Response", "PresetQuery", sn, channel, inner, self.charset))

    async def _answer_position(self, sn: int, channel: str) -> None:
        pan, tilt, zoom = self.ptz
        inner = f"<Pan>{pan:.2f}</Pan><Tilt>{tilt:.2f}</Tilt><Zoom>{zoom:.2f}</Zoom>\r\n"
        await self.message(body("Response", "PTZPosition", sn, channel, inner, self.charset))

    async def _take_snapshot(self, sn: int, query: str) -> None:
        import httpx  # only the snapshot tests need it

        channel, url, session = xml_tag(query, "DeviceID"), xml_tag(query, "UploadURL"), xml_tag(query, "SessionID")
        await self.message(body("Response", "DeviceConfig", sn, channel, "<Result>OK</Result>\r\n", self.charset))
        if not self.snapshot_upload:
            self.snapshots.append((url, 0, None))
            return
        async with httpx.AsyncClient(timeout=10) as client:
            if self.snapshot_multipart:
                r = await client.post(url, files={"file": ("snapshot.jpg", jpeg_picture(), "image/jpeg")})
            else:
                r = await client.post(url, content=jpeg_picture(), headers={"Content-Type": "image/jpeg"})
        inner = (f"<SessionID>{escape(session)}</SessionID>"
                 f"<SnapShotList><SnapShotFileID>{channel}{sn:06d}</SnapShotFileID></SnapShotList>\r\n")
        done = await self.message(body("Notify", "UploadSnapShotFinished", self.next_sn(), channel, inner,
                                       self.charset))
        self.snapshots.append((url, r.status_code, done.status if done is not None else None))


def jpeg_picture(size: tuple[int, int] = (64, 48)) -> bytes:
    """A real, small JPEG (PyAV's MJPEG encoder): what a camera uploads as its snapshot."""
    from fractions import Fraction

    import av
    import numpy as np

    enc = av.CodecContext.create("mjpeg", "w")
    enc.width, enc.height, enc.pix_fmt, enc.time_base = size[0], size[1], "yuvj420p", Fraction(1, 25)
    picture = np.full((size[1], size[0], 3), (200, 60, 30), np.uint8)
    frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in [*enc.encode(frame), *enc.encode(None)])
