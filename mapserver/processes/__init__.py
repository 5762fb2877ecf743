"""pygeoapi process plugins. Each module declares the processes it offers in its manifest
(``Manifest.processes``: process id → dotted path of the processor class); the pygeoapi configuration and the policy
read them from there (``core.manifest.collect(config, "processes")``)."""
