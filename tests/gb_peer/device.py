"""The simulated device: its settings, what it recorded, and the dispatch of the platform's requests."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from app.ingest.gb28181 import sip
from tests.gb_peer.calls import Call, VideoCalls
from tests.gb_peer.messages import Channel, xml_tag
from tests.gb_peer.queries import QueryAnswers
from tests.gb_peer.reports import DeviceReports
from tests.gb_peer.transport import PeerEndpoint


@dataclass
class SimDevice(DeviceReports, VideoCalls, QueryAnswers):
    ep: PeerEndpoint
    device_id: str
    password: str
    server_id: str = "34020000002000000001"
    domain: str = "3402000000"
    channels: list[Channel] = field(default_factory=list)
    charset: str = "GB2312"
    page_size: int = 2  # catalog items per MESSAGE, so answers span several messages
    qop: bool = True
    answer_catalog: bool = True
    catalog_drop_pages: set[int] = field(default_factory=set)  # page indices left out of the FIRST answer only
    grant_expires: int | None = None  # Expires granted to SUBSCRIBE (None: what was asked)
    received: list[sip.SipMessage] = field(default_factory=list)
    subscriptions: dict[str, sip.SipMessage] = field(default_factory=dict)
    guard: bool = False
    gb_version: str | None = None  # REGISTER header X-GB-Ver: "3.0" (GB/T 28181-2022), "2.0" (2016)
    # Video: INVITE answer (None = never answer), streaming, RecordInfo.
    invite_status: int | None = 200
    invite_provisional: bool = True  # 100 Trying + 180 Ringing before the final answer
    invite_delay_s: float = 0.0  # before the final answer
    answer_cancel: bool = True  # False: a CANCEL is ignored (then a late 200 still comes)
    media: str = "dummy"  # "ps": real H.264 in PS/RTP (tests/media_source.py); "dummy": cheap RTP
    media_size: tuple[int, int] = (320, 180)
    records: list[tuple[datetime, datetime]] | None = None  # local times; None: hourly, last 3 days
    record_page_size: int = 10
    record_skip_pages: set[int] = field(default_factory=set)  # page indices never sent
    # Channel control: PresetQuery answered over several MESSAGEs; PTZPosition (2022 only) and PTZPreciseCtrl;
    # SnapShotConfig (a real JPEG POSTed to UploadURL, then UploadSnapShotFinished), unless snapshot_upload False.
    presets: list[tuple[int, str]] = field(default_factory=lambda: [(1, "大门"), (2, "路口"), (3, "停车场")])
    preset_page_size: int = 2
    ptz: tuple[float, float, float] = (0.0, 0.0, 1.0)  # pan, tilt, zoom
    snapshot_upload: bool = True
    snapshot_multipart: bool = False  # upload as a multipart form (some vendors) instead of a raw JPEG body
    call_id: str = field(default_factory=lambda: secrets.token_hex(8))
    from_tag: str = field(default_factory=sip.new_tag)
    cseq: int = 0
    sn: int = 0

    def __post_init__(self) -> None:
        self.ep.devices[self.device_id] = self
        self.catalog_answered = asyncio.Event()
        self.catalog_queries = 0  # Catalog queries answered
        self.subscribed = asyncio.Event()
        self.subscribe_log: list[sip.SipMessage] = []
        self.tasks: set[asyncio.Task] = set()
        self.controls: list[str] = []  # DeviceControl bodies received (PTZ)
        self.controlled = asyncio.Event()
        self.calls: dict[str, Call] = {}  # Call-ID → dialog
        self.byes: list[str] = []  # Call-IDs the platform BYE'd
        self.cancels: list[str] = []
        self.infos: list[str] = []  # MANSRTSP bodies received over INFO
        self.record_queries: list[str] = []  # RecordInfo query bodies
        self.snapshots: list[tuple[str, int, int | None]] = []  # (UploadURL, upload status, Finished answer)
        self.vanished = False

    def on_request(self, msg: sip.SipMessage) -> None:
        if self.vanished:
            return
        self.received.append(msg)
        dialog_handler = {
            "INVITE": self._on_invite,
            "ACK": self._on_ack,
            "BYE": self._on_bye,
            "CANCEL": self._on_cancel,
            "INFO": self._on_info,
        }.get(msg.method or "")
        if dialog_handler is not None:
            dialog_handler(msg)
            return
        resp = sip.make_response(msg, 200)
        if msg.method == "SUBSCRIBE":
            resp.headers.append(("Expires", str(self.grant_expires or msg.get("Expires") or 3600)))
        self.ep.send_raw(resp.to_bytes())
        if not msg.body:
            return
        text = msg.body.decode("gb18030")
        cmd = text.split("<CmdType>")[1].split("</CmdType>")[0] if "<CmdType>" in text else ""
        sn = int(text.split("<SN>")[1].split("</SN>")[0]) if "<SN>" in text else 0
        if msg.method == "SUBSCRIBE":
            self.subscriptions[cmd] = msg
            self.subscribe_log.append(msg)
            self.subscribed.set()
        elif cmd == "Catalog" and self.answer_catalog:
            task = asyncio.get_running_loop().create_task(self._answer_catalog(sn))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif "<GuardCmd>SetGuard</GuardCmd>" in text:
            self.guard = True
        elif cmd == "DeviceControl" and "<PTZPreciseCtrl>" in text:
            self.controls.append(text)
            self.ptz = tuple(float(xml_tag(text, t)) for t in ("Pan", "Tilt", "Zoom"))
            self.controlled.set()
        elif cmd == "DeviceControl":
            self.controls.append(text)
            self.controlled.set()
        elif cmd == "RecordInfo":
            self.record_queries.append(text)
            self._task(self._answer_records(sn, text))
        elif cmd == "PresetQuery":
            self._task(self._answer_presets(sn, xml_tag(text, "DeviceID")))
        elif cmd == "PTZPosition" and self.gb_version == "3.0":  # a 2016 device does not know the query
            self._task(self._answer_position(sn, xml_tag(text, "DeviceID")))
        elif cmd == "DeviceConfig" and "<SnapShotConfig>" in text:
            self._task(self._take_snapshot(sn, text))

    def _task(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
