"""The rules, once: keys, installs, restores, storage and wording helpers. No Textual, no printing."""
