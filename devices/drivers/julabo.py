"""Julabo circulator (CORIO / FP / SL series) over RS-232 or a serial-to-Ethernet bridge.

Julabo's ASCII command set: commands end with CR, replies with CR LF.
``in_pv_00`` bath temperature, ``in_sp_00`` / ``out_sp_00 <t>`` working
setpoint T1, ``in_mode_05`` / ``out_mode_05 <0|1>`` stop/start,
``status`` e.g. ``03 REMOTE START`` (a negative code is an alarm, e.g.
``-01 TEMP. ALARM``), ``version``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devices.drivers import scpi
from devices.drivers.errors import InstrumentError, ProtocolError
from devices.drivers.instrument import ScpiInstrument

_STATUS = re.compile(r"^\s*([+-]?\d{1,3})\s+(.*)$")


@dataclass(frozen=True)
class ChillerReadback:
    bath_temperature: float
    setpoint: float
    running: bool
    status_code: int
    status_text: str

    @property
    def alarm(self) -> bool:
        return self.status_code < 0


def parse_status(reply: str) -> tuple[int, str]:
    match = _STATUS.match(reply)
    if not match:
        raise ProtocolError("status", reply, "'<code> <text>' such as '03 REMOTE START'")
    return int(match.group(1)), match.group(2).strip()


class JulaboDriver(ScpiInstrument):
    model = "julabo"

    def verify(self) -> None:
        version = self.query("version").strip()
        if "JULABO" not in version.upper():
            raise InstrumentError(f"expected a Julabo circulator, 'version' answered {version!r}")

    def read(self) -> ChillerReadback:
        with self.transaction():
            bath = self.query_float("in_pv_00")
            setpoint = self.query_float("in_sp_00")
            running = self.query_bool("in_mode_05")
            code, text = parse_status(self.query("status"))
        return ChillerReadback(bath, setpoint, running, code, text)

    def set_setpoint(self, celsius: float) -> None:
        self.write(f"out_sp_00 {scpi.format_number(celsius)}")
        echoed = self.query_float("in_sp_00")
        if abs(echoed - celsius) > 0.05:
            raise InstrumentError(f"the circulator kept setpoint {echoed} after out_sp_00 {celsius}")

    def set_running(self, on: bool) -> None:
        self.write(f"out_mode_05 {1 if on else 0}")
