"""Instruments: drivers (pure protocol), emulators and the Tango device classes."""
