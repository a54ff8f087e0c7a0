"""The console and chat widget as package data, so an installed wheel serves them (``gateway.app.WEB``)."""
