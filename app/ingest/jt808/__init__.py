"""JT/T 808 (2013 and 2019): binary TCP protocol of vehicle and body-worn BeiDou/GPS terminals."""

from app.ingest.jt808.codec import Frame, Header, Jt808Error, decode_frame, encode_frame
from app.ingest.jt808.splitter import FrameSplitter

__all__ = ["Frame", "FrameSplitter", "Header", "Jt808Error", "decode_frame", "encode_frame"]
