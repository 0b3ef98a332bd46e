"""An independent Modbus RTU slave for interop tests: Debian's pymodbus on a serial port.

Holds 16 coils at unit 1, zero-based addresses, and prints one JSON line per write so the
test sees what reached the relays through a peer that shares no code with ours.
Run with Debian's own interpreter: /usr/bin/python3 pymodbus-slave.py PORT
"""
import json
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartSerialServer
from pymodbus.transaction import ModbusRtuFramer


class ReportingCoils(ModbusSequentialDataBlock):
    def setValues(self, address, values):  # noqa: N802 (pymodbus API)
        super().setValues(address, values)
        coils = [bool(v) for v in self.getValues(0, 16)]
        print(json.dumps({"write": address, "coils": coils}), flush=True)


def main():
    port = sys.argv[1]
    store = ModbusSlaveContext(co=ReportingCoils(0, [False] * 16), zero_mode=True)
    context = ModbusServerContext(slaves={1: store}, single=False)
    print(json.dumps({"ready": port}), flush=True)
    StartSerialServer(context=context, framer=ModbusRtuFramer, port=port, baudrate=9600, bytesize=8, parity="N", stopbits=1, timeout=0.05)


if __name__ == "__main__":
    main()
