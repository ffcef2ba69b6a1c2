"""The station configuration: the station file's model and validation, the device classes' metadata, and
its apply/diff to the Tango database."""
