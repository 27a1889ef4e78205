"""Page views (SPEC §6): thin adapters from a request to a page selector or a service."""
