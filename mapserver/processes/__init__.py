"""pygeoapi process plugins, declared (not scanned): process id → dotted path of the processor class.

The pygeoapi config builder can turn each item into a ``resources`` block::

    {pid: {"type": "process", "processor": {"name": path}} for pid, path in PROCESSES.items()}
"""

PROCESSES: dict[str, str] = {
    "hazard-source-grading": "mapserver.processes.safety.HazardSourceGradingProcessor",
    "gaussian-plume": "mapserver.processes.safety.GaussianPlumeProcessor",
    "vce-overpressure": "mapserver.processes.safety.VceOverpressureProcessor",
    "coordinate-convert": "mapserver.processes.safety.CoordinateConvertProcessor",
}
