"""Named actions that ``action`` steps call: a registry, plus ``http.request``."""
