"""Proxy evaluation: features of the proxy videos, the proxy scores (metrics) and measured invariance."""

from core.evaluation.metrics import ProxyScores, proxy_scores
from core.evaluation.proxy import EvalSpec, Evaluation, ProxyData, evaluate

__all__ = ["EvalSpec", "Evaluation", "ProxyData", "ProxyScores", "evaluate", "proxy_scores"]
