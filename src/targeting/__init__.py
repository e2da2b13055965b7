"""Ranked target lists for marketers: retention, growth, win-back and VIP-care campaigns.

- :mod:`targeting.campaigns` -- who each campaign wants and the value of contacting them
- :mod:`targeting.lists`     -- ranking, stopping rules, one campaign per customer, control groups
- :mod:`targeting.safety`    -- do-not-contact suppression and spreadsheet-formula neutralising
- :mod:`targeting.export`    -- the CSV and XLSX files marketers import
- :mod:`targeting.wording`   -- the campaign catalogue: action, channel and offer texts (params)
- :mod:`targeting.reasons`   -- each client's reason in words, from their own facts
"""

from targeting.campaigns import CAMPAIGNS, candidates
from targeting.lists import build_target_lists, control_flags
from targeting.safety import neutralise_formulas, read_id_list

__all__ = [
    "CAMPAIGNS",
    "build_target_lists",
    "candidates",
    "control_flags",
    "neutralise_formulas",
    "read_id_list",
]
