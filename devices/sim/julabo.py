"""Emulated Julabo circulator: the chiller of the cold box, on the shared ColdBox model."""

from __future__ import annotations

from devices.sim.coldbox import ColdBox


class JulaboModel:
    """Julabo's ASCII protocol (not SCPI): CR-terminated commands, CR LF replies."""

    terminator = "\r\n"
    version = "JULABO CORIO CD-200F VER 1.0 (emulated)"
    limits = (-30.0, 100.0)

    def __init__(self, box: ColdBox):
        self.box = box
        self.setting_commands = 0
        self.alarm = False

    def execute(self, line: str) -> str | None:
        words = line.strip().split()
        if not words:
            return None
        command, args = words[0].lower(), words[1:]
        box = self.box
        with box.lock:
            box.advance()
            if command == "version":
                return self.version
            if command == "status":
                if self.alarm:
                    return "-01 TEMP. ALARM"
                return "03 REMOTE START" if box.running else "02 REMOTE STOP"
            if command == "in_pv_00":
                return f"{box.bath_c:.2f}"
            if command == "in_sp_00":
                return f"{box.setpoint:.2f}"
            if command == "in_mode_05":
                return "1" if box.running else "0"
            if command == "out_sp_00" and len(args) == 1:
                self.setting_commands += 1
                try:
                    value = float(args[0])
                except ValueError:
                    return None  # a real Julabo ignores it; the driver's read-back notices
                if self.limits[0] <= value <= self.limits[1]:
                    box.setpoint = value
                return None
            if command == "out_mode_05" and len(args) == 1 and args[0] in ("0", "1"):
                self.setting_commands += 1
                box.running = args[0] == "1"
                return None
        return None  # unknown commands are ignored, as the instrument does

    def force_trip(self, channel: int) -> None:
        with self.box.lock:
            self.alarm = True
            self.box.running = False

    def set_parameter(self, name: str, values: list[str]) -> None:
        if name == "alarm" and len(values) == 1:
            self.alarm = values[0] in ("1", "on", "true")
        else:
            self.box.set_parameter(name, values)

    def snapshot(self) -> dict:
        return {"setting_commands": self.setting_commands, "alarm": self.alarm, **self.box.snapshot()}
