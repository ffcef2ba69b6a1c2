"""An emulator of Ph2_ACF's runCalibration and fpgaconfig (see __main__.py)."""
