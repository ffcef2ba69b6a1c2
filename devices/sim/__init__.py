"""Instrument emulators: TCP servers speaking the instruments' real SCPI, with
physics, an injectable clock and a fault-injection side channel."""
