"""Live video from GB/T 28181 devices: RTP carrying MPEG-2 PS in (UDP or TCP), MPEG-TS out, remuxed
with PyAV (never transcoded) and shared by every viewer of a channel. No SIP here: the INVITE/BYE side
hands this package a port to listen on and gets back a close() that sends BYE."""
