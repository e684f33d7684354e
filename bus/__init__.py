"""Every contract on the bus: topology, message schemas, and how to connect. Declared once, here."""
