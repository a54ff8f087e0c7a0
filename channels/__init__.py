"""Provider adapters: provider protocol in, domain commands out, and domain outcomes back out as provider actions."""
