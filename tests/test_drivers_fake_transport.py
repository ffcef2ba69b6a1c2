"""Drivers against a scripted transport: exact SCPI sent, replies parsed, garbage named."""

import pytest

from devices.drivers.errors import InstrumentReportedError, ProtocolError
from devices.drivers.hmp4040 import Hmp4040Driver
from devices.drivers.keithley2410 import Keithley2410Driver

pytestmark = pytest.mark.unit  # in-process: no service, no child process


class FakeTransport:
    def __init__(self, replies: dict[str, list[str]]):
        self.replies = {k: list(v) for k, v in replies.items()}
        self.sent: list[str] = []
        self.closed = False

    def write(self, line: str) -> None:
        self.sent.append(line)

    def query(self, line: str) -> str:
        self.sent.append(line)
        answers = self.replies[line]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def close(self) -> None:
        self.closed = True


def test_hmp4040_reads_a_channel_in_one_transaction():
    fake = FakeTransport({"MEAS:VOLT?": ["5.0010"], "MEAS:CURR?": ["0.5000"], "OUTP:STAT?": ["1"],
                          "FUSE:TRIP?": ["0"], "VOLT?": ["5.0000"], "CURR?": ["1.0000"]})
    reading = Hmp4040Driver(fake).read_channel(3)
    assert fake.sent[0] == "INST:NSEL 3"
    assert (reading.voltage, reading.current, reading.output, reading.tripped) == (5.001, 0.5, True, False)
    assert (reading.voltage_setpoint, reading.current_limit) == (5.0, 1.0)


def test_hmp4040_setters_check_the_error_queue():
    fake = FakeTransport({"SYST:ERR?": ['0,"No error"']})
    driver = Hmp4040Driver(fake)
    driver.set_voltage(2, 3.3)
    driver.set_output(2, True)
    assert fake.sent == ["INST:NSEL 2", "VOLT 3.3", "SYST:ERR?", "INST:NSEL 2", "OUTP:STAT ON", "SYST:ERR?"]
    with pytest.raises(ValueError):
        driver.set_voltage(5, 1.0)


def test_instrument_error_is_raised_with_code():
    fake = FakeTransport({"SYST:ERR?": ['-222,"Data out of range"', '0,"No error"']})
    with pytest.raises(InstrumentReportedError) as info:
        Hmp4040Driver(fake).set_voltage(1, 40)
    assert info.value.code == -222 and "Data out of range" in str(info.value)


def test_keithley_reads_v_and_i_only_with_output_on():
    fake = FakeTransport({":OUTP?": ["1"], ":READ?": ["+1.000000E+02,-2.500000E-06,+9.91E+37,+1.2E+01,+1.03E+04"],
                          ":SENS:CURR:PROT:TRIP?": ["0"], ":SOUR:VOLT:LEV?": ["+1.0E+02"], ":SENS:CURR:PROT?": ["1.05E-04"]})
    reading = Keithley2410Driver(fake).read_channel(1)
    assert (reading.voltage, reading.current, reading.current_limit) == (100.0, -2.5e-06, 1.05e-4)
    off = FakeTransport({":OUTP?": ["0"], ":SENS:CURR:PROT:TRIP?": ["0"], ":SOUR:VOLT:LEV?": ["0"], ":SENS:CURR:PROT?": ["1e-4"]})
    assert Keithley2410Driver(off).read_channel(1).voltage == 0.0
    assert ":READ?" not in off.sent


def test_keithley_garbage_reply_is_a_protocol_error():
    fake = FakeTransport({":OUTP?": ["1"], ":READ?": ["#?!garbage"]})
    with pytest.raises(ProtocolError) as info:
        Keithley2410Driver(fake).read_channel(1)
    assert ":READ?" in str(info.value)


def test_keithley_refuses_a_current_sourcing_smu():
    from devices.drivers.errors import InstrumentError

    with pytest.raises(InstrumentError, match="not VOLT"):
        Keithley2410Driver(FakeTransport({":SOUR:FUNC?": ["CURR"]})).verify()
