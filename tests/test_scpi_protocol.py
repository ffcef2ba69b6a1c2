"""Pure protocol functions: no I/O at all."""

import math

import pytest

from devices.drivers import scpi
from devices.drivers.errors import ProtocolError

pytestmark = pytest.mark.unit  # in-process: no service, no child process


def test_parse_float_accepts_scpi_numbers():
    assert scpi.parse_float("VOLT?", "+1.234500E+02\n") == pytest.approx(123.45)
    assert scpi.parse_float("VOLT?", " 5") == 5.0


@pytest.mark.parametrize("reply", ["", "abc", "1,2", "NaN?", "#\x15?!garbage"])
def test_parse_float_rejects_garbage_with_named_error(reply):
    with pytest.raises(ProtocolError) as info:
        scpi.parse_float("MEAS:VOLT?", reply)
    assert "MEAS:VOLT?" in str(info.value) and "a number" in str(info.value)


def test_parse_floats_takes_the_first_elements():
    assert scpi.parse_floats(":READ?", "+1.0E+02,+2.5E-06,+9.9E+37,+1.0E+00,+1.0E+03", 2) == [100.0, 2.5e-06]
    with pytest.raises(ProtocolError):
        scpi.parse_floats(":READ?", "+1.0E+02", 2)


def test_parse_bool_and_errors():
    assert scpi.parse_bool("OUTP?", "1") is True
    assert scpi.parse_bool("OUTP?", "OFF") is False
    with pytest.raises(ProtocolError):
        scpi.parse_bool("OUTP?", "2")
    assert scpi.parse_error("SYST:ERR?", '-222,"Data out of range"') == (-222, "Data out of range")
    with pytest.raises(ProtocolError):
        scpi.parse_error("SYST:ERR?", "no error")


def test_format_number_refuses_non_finite():
    assert scpi.format_number(100.0) == "100"
    assert scpi.format_number(1.05e-4) == "0.000105"
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError):
            scpi.format_number(bad)


def test_identity():
    assert scpi.parse_identity("*IDN?", "ROHDE&SCHWARZ,HMP4040,123,2.70")[1] == "HMP4040"
    with pytest.raises(ProtocolError):
        scpi.parse_identity("*IDN?", "garbage")
