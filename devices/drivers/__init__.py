"""Instrument drivers: sans-I/O SCPI protocol functions plus pluggable transports.

Nothing here imports tango, so a driver can be used from a plain script.
"""
