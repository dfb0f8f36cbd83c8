"""The quick presets show what the full studies find: each ``--quick`` run (under a minute
on 2 cores) gives every network type the verdict class of its full study.

The full studies' verdicts (``python -m mcsim.study scaling`` and ``exactness``, the
default presets, run on 2026-12-01; docs/results.md): the SE holds (consistent or
converges) for the chain, the lifted relu net, the sparse l1 chain and relu MAP with the
jump divergence, damped or not; it deviates for relu and leaky relu MAP with the a.e.
divergence, damped or not.
"""
import re

import pytest

from mcsim import study

FULL = {
    "scaling": {"chain": "holds", "talk_lifted": "holds", "talk_relu": "deviates"},
    "exactness": {"chain": "holds", "chain_d05": "holds", "lifted": "holds", "lifted_d05": "holds",
                  "relu_ae": "deviates", "relu_ae_d05": "deviates", "relu_jump": "holds", "relu_jump_d05": "holds",
                  "leaky_ae": "deviates", "leaky_ae_d05": "deviates", "sparse_l1": "holds", "sparse_l1_d05": "holds"},
}
CLASS = {"consistent with SE": "holds", "converges to SE": "holds", "DEVIATES": "deviates",
         "UNDETERMINED": "undetermined"}


def verdict_classes(printed: str, names) -> dict:
    """{network type: 'holds', 'deviates' or 'undetermined'} from the printed 'where the SE holds' table."""
    table = printed[printed.index("where the SE holds"):]
    found = {}
    for name in names:
        match = re.search(rf"^{name}\s.*?(consistent with SE|converges to SE|DEVIATES|UNDETERMINED)", table, re.M)
        found[name] = CLASS[match.group(1)] if match else None
    return found


@pytest.mark.parametrize("name", FULL)
def test_quick_preset_gives_the_full_studys_verdicts(name, tmp_path, capsys):
    assert study.main([name, "--quick", "--n-jobs", "2", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert verdict_classes(printed, FULL[name]) == FULL[name]
    table = printed[printed.index("where the SE holds"):]
    assert table.count("would detect >=") == list(FULL[name].values()).count("holds")  # each states its power
