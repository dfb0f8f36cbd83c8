"""mcsim: Monte Carlo validation of the ML-VAMP state evolution for MAP inference."""
__version__ = "0.1.0"

from .montecarlo import run_network, simulate
from .report import compare
from .run import RunSpec
from .spec import NetworkSpec, SpecError
from .state_evolution import state_evolution

__all__ = ["NetworkSpec", "RunSpec", "SpecError", "compare", "run_network", "simulate", "state_evolution"]
