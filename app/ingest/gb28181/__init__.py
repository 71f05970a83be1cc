"""GB/T 28181 access: devices and lower platforms register to SharpEyes (the SIP server side).

``sip`` / ``digest`` / ``manscdp`` / ``mapping`` are pure; ``transport`` and ``server`` do the I/O.
"""

from app.ingest.gb28181.server import Gb28181Server, run_server
from app.ingest.gb28181.settings import Gb28181Settings

__all__ = ["Gb28181Server", "Gb28181Settings", "run_server"]
