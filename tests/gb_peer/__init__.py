"""A GB/T 28181 device and lower-platform simulator (asyncio), for tests and the benchmark.

Many simulated devices share one UDP socket (as channels behind an NVR or a lower platform do) or
each has its own TCP connection. A device registers with digest auth, sends keepalives, answers the
platform's Catalog query in several MESSAGEs (SumNum), accepts SUBSCRIBE and DeviceControl, and sends
MobilePosition (flat or DeviceList form, NOTIFY or MESSAGE), alarms and catalog NOTIFY events, with
GB2312 bodies by default. Requests the platform sends are recorded in ``device.received``.

Video: a device answers INVITE (live, Playback, Download) with its SDP and, once ACKed, streams to the
offered address (``media="ps"``: real H.264 in PS over RTP from ``tests/media_source.py``; ``"dummy"``:
RTP packets with a dummy payload, cheap); BYE stops the stream (``device.byes``, ``device.streaming``).
It can be told to answer INVITE with an error or never (``invite_status``), to vanish mid-stream
(``vanish()``), to end a call itself (``send_bye()``); INFO (playback control) is answered 200 and kept
in ``device.infos``. RecordInfo is answered with ``device.records`` (default: one an hour for the last
three days) over several MESSAGEs (``record_page_size``; ``record_skip_pages`` leaves pages out).

Modules: messages (catalog items, MANSCDP envelope), transport (the shared SIP socket or connection),
device (SimDevice: settings and request dispatch), reports (what the device sends on its own), queries
(Catalog, RecordInfo, presets, PTZ position, snapshots), calls (video dialogs), rtp (the dummy stream).
"""

from tests.gb_peer.calls import Call
from tests.gb_peer.device import SimDevice
from tests.gb_peer.messages import DEVICE_TZ, Channel, body, xml_tag
from tests.gb_peer.queries import jpeg_picture
from tests.gb_peer.rtp import DummyRtp
from tests.gb_peer.transport import PeerEndpoint

__all__ = ["DEVICE_TZ", "Call", "Channel", "DummyRtp", "PeerEndpoint", "SimDevice", "body", "jpeg_picture", "xml_tag"]
