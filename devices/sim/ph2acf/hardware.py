"""A hardware description XML for an emulated FC7 (the shape of Ph2_ACF's settings/2S_Module.xml)."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr


def write_hardware_xml(path: Path, module_types: list[str], uri: str) -> Path:
    """One optical group per module, two hybrids each: 8 CBC (2S) or 8 SSA2 + 8 MPA2 (PS)."""
    groups = []
    for group, kind in enumerate(module_types):
        hybrids = []
        for local in range(2):
            if kind == "2S":
                chips = "".join(f'<CBC Id="{i}" configfile="CBC3_default.txt"/>' for i in range(8))
            else:
                chips = "".join(f'<SSA2 Id="{i}" configfile="SSA2.txt"/>' for i in range(8))
                chips += "".join(f'<MPA2 Id="{8 + i}" configfile="MPA2.txt"/>' for i in range(8))
            hybrids.append(f'      <Hybrid Id="{2 * group + local}" enable="1" reset="1">{chips}'
                           f'<CIC2 Id="8" configfile="CIC2_{kind}.txt"/></Hybrid>')
        groups.append(f'    <OpticalGroup Id="{group}" FMCId="L12" reset="1">\n' + "\n".join(hybrids)
                      + "\n    </OpticalGroup>")
    text = ("<HwDescription>\n"
            f'  <BeBoard Id="0" boardType="D19C" eventType="VR2S" configure="1">\n'
            f'    <connection id="board" uri={quoteattr(uri)} '
            'address_table="file://${PH2ACF_BASE_DIR}/settings/address_tables/uDTC_OT_address_table.xml"/>\n'
            + "\n".join(groups) + "\n  </BeBoard>\n"
            '  <Settings><Setting name="Nevents">1000</Setting><Setting name="FitSCurves">0</Setting></Settings>\n'
            "</HwDescription>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
